import { useCallback, useEffect, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Button, Card, ErrorBox, Spinner, StatusBadge } from "../components/ui";
import { ApiError, api, type TouchUpMethod } from "../lib/api";
import { useCanOperate, useJob, useMasks, usePresigned, useTouchUp } from "../lib/hooks";
import {
  appendPoint, canRedo, canUndo, defaultBrushSize, displayScale, emptyHistory, pushEdit, redo, toImagePoint,
  touchUpBody, undo, undoKey, type EditHistory, type Size,
} from "../lib/touchup";
import type { Stroke } from "../lib/api";
import { typing } from "../lib/review";

type Tool = "add" | "remove" | "positive" | "negative";
const TOOLS: [Tool, string][] = [
  ["add", "Brush: add"],
  ["remove", "Brush: remove"],
  ["positive", "Point: keep"],
  ["negative", "Point: drop"],
];
const METHODS: [TouchUpMethod, string][] = [
  ["paint", "Paint (strokes only)"],
  ["grabcut", "GrabCut seeded by the strokes"],
  ["learned", "Learned model on the clicked region"],
];
const COLOURS = { add: "rgba(34,197,94,0.55)", remove: "rgba(239,68,68,0.55)" };

function drawEdits(canvas: HTMLCanvasElement, history: EditHistory, live: Stroke | null, natural: Size) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const strokes = [...history.done.flatMap((e) => (e.kind === "stroke" ? [e.stroke] : [])), ...(live ? [live] : [])];
  for (const stroke of strokes) {
    ctx.strokeStyle = COLOURS[stroke.mode];
    ctx.fillStyle = COLOURS[stroke.mode];
    ctx.lineWidth = stroke.size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    const [first, ...rest] = stroke.points;
    if (!first) continue;
    if (rest.length === 0) {
      ctx.beginPath();
      ctx.arc(first[0], first[1], stroke.size / 2, 0, Math.PI * 2);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(first[0], first[1]);
    for (const [x, y] of rest) ctx.lineTo(x, y);
    ctx.stroke();
  }
  const radius = Math.max(4, Math.max(natural.width, natural.height) / 90);
  for (const edit of history.done) {
    if (edit.kind !== "point") continue;
    const { x, y, positive } = edit.point;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, Math.PI * 2);
    ctx.fillStyle = positive ? "#16a34a" : "#dc2626";
    ctx.fill();
    ctx.lineWidth = Math.max(1, radius / 4);
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    ctx.fillStyle = "#fff";
    ctx.fillRect(x - radius / 2, y - radius / 8, radius, radius / 4);
    if (positive) ctx.fillRect(x - radius / 8, y - radius / 2, radius / 4, radius);
  }
}

export function TouchUpPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const job = useJob(id);
  const masks = useMasks(id);
  const original = usePresigned(id, { type: "original" });
  const currentMask = usePresigned(id, { type: "mask" }, Boolean(job.data?.s3_mask_key));
  const save = useTouchUp();
  const canOperate = useCanOperate();

  const [natural, setNatural] = useState<Size | null>(null);
  const [tool, setTool] = useState<Tool>("add");
  const [size, setSize] = useState(20);
  const [method, setMethod] = useState<TouchUpMethod>("paint");
  const [note, setNote] = useState("");
  const [overlay, setOverlay] = useState(true);
  const [history, setHistory] = useState<EditHistory>(emptyHistory);
  const [live, setLive] = useState<Stroke | null>(null);
  const [cursor, setCursor] = useState<{ x: number; y: number; d: number } | null>(null);
  const [preview, setPreview] = useState<{ url: string; error: null } | { url: null; error: string } | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const canvasRef = useRef<HTMLCanvasElement>(null);

  const baseVersion =
    masks.data?.current ?? job.data?.mask_versions?.[job.data.mask_versions.length - 1]?.version ?? 1;

  useEffect(() => {
    if (canvasRef.current && natural) drawEdits(canvasRef.current, history, live, natural);
  }, [history, live, natural]);

  useEffect(() => () => { if (preview?.url) URL.revokeObjectURL(preview.url); }, [preview]);

  const onKey = useCallback((e: KeyboardEvent) => {
    const action = undoKey(e);
    if (!action || typing(e.target)) return; // Ctrl+Z in the note field undoes the typing
    e.preventDefault();
    setHistory((h) => (action === "undo" ? undo(h) : redo(h)));
  }, []);
  useEffect(() => {
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onKey]);

  if (job.isPending) return <Spinner label="Loading job…" />;
  if (job.isError) return <ErrorBox error={job.error} onRetry={() => job.refetch()} />;
  const j = job.data;

  function pointFrom(e: ReactPointerEvent<HTMLCanvasElement>): [number, number] {
    return toImagePoint(e.clientX, e.clientY, e.currentTarget.getBoundingClientRect(), natural!);
  }
  function onPointerDown(e: ReactPointerEvent<HTMLCanvasElement>) {
    if (!natural || !canOperate || e.button !== 0) return;
    const point = pointFrom(e);
    if (tool === "positive" || tool === "negative") {
      setHistory((h) => pushEdit(h, { kind: "point", point: { x: point[0], y: point[1], positive: tool === "positive" } }));
      return;
    }
    e.currentTarget.setPointerCapture(e.pointerId);
    setLive({ mode: tool, size, points: [point] });
  }
  function onPointerMove(e: ReactPointerEvent<HTMLCanvasElement>) {
    if (!natural) return;
    const box = e.currentTarget.getBoundingClientRect();
    setCursor({ x: e.clientX - box.left, y: e.clientY - box.top, d: size / displayScale(box, natural) });
    if (live) {
      const point = pointFrom(e);
      setLive((s) => (s ? { ...s, points: appendPoint(s.points, point, Math.max(1, s.size / 8)) } : s));
    }
  }
  function onPointerUp() {
    if (live) setHistory((h) => pushEdit(h, { kind: "stroke", stroke: live }));
    setLive(null);
  }

  async function runPreview() {
    setPreviewing(true);
    try {
      const blob = await api.touchUpPreview(id, touchUpBody(history, baseVersion, method));
      setPreview({ url: URL.createObjectURL(blob), error: null });
    } catch (err) {
      setPreview({ url: null, error: err instanceof ApiError ? `${err.status}: ${err.message}` : String(err) });
    } finally {
      setPreviewing(false);
    }
  }

  function submit() {
    save.mutate({ id, body: touchUpBody(history, baseVersion, method, note) }, {
      onSuccess: (result) => navigate(`/jobs/${encodeURIComponent(id)}`, { state: { touchedUp: result.version, jobs: result.jobs } }),
    });
  }

  const edits = history.done.length;
  const maskOverlay = "pointer-events-none absolute inset-0 h-full w-full mix-blend-multiply";

  return (
    <div className="space-y-4" data-testid="touch-up-page">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <Link to={`/jobs/${encodeURIComponent(id)}`} className="text-sm text-indigo-600 hover:underline">← Job {j.sku}</Link>
          <h1 className="mt-1 flex items-center gap-2 text-xl font-bold">Touch up <span className="font-mono">{j.sku}</span> <StatusBadge status={j.status} /></h1>
          <p className="text-xs text-gray-500">
            from mask v<span data-testid="base-version">{baseVersion}</span> · coordinates in original pixels
            {natural && <> ({natural.width}×{natural.height})</>} · saving re-runs every theme of this photo
          </p>
        </div>
        <div className="flex gap-2">
          <Button variant="outline" onClick={runPreview} disabled={previewing || !natural} data-testid="preview-button">{previewing ? "Previewing…" : "Preview"}</Button>
          <Button onClick={submit} disabled={!canOperate || save.isPending || edits === 0} data-testid="save-button">{save.isPending ? "Saving…" : "Save"}</Button>
        </div>
      </div>
      {save.isError && <p role="alert" className="text-sm text-red-600" data-testid="save-error">{save.error.message}</p>}
      {!canOperate && <p className="text-sm text-amber-700 dark:text-amber-400">Your key is a viewer's: touching up needs an operator.</p>}

      <Card>
        <div className="flex flex-wrap items-center gap-3 text-sm" data-testid="touch-up-tools">
          <div className="flex overflow-hidden rounded-md border border-gray-300 dark:border-gray-700" role="radiogroup" aria-label="Tool">
            {TOOLS.map(([value, label]) => (
              <button
                key={value}
                role="radio"
                aria-checked={tool === value}
                className={`px-2 py-1 text-xs ${tool === value ? "bg-indigo-600 text-white" : "hover:bg-gray-100 dark:hover:bg-gray-800"}`}
                onClick={() => setTool(value)}
              >
                {label}
              </button>
            ))}
          </div>
          <label className="flex items-center gap-2">
            Size
            <input type="range" aria-label="Brush size" min={2} max={natural ? Math.max(40, Math.round(Math.max(natural.width, natural.height) / 4)) : 200} value={size} onChange={(e) => setSize(Number(e.target.value))} />
            <span className="w-14 tabular-nums" data-testid="brush-size">{size} px</span>
          </label>
          <Button size="sm" variant="outline" onClick={() => setHistory(undo)} disabled={!canUndo(history)} aria-label="Undo" title="Undo (Ctrl+Z)">↶ Undo</Button>
          <Button size="sm" variant="outline" onClick={() => setHistory(redo)} disabled={!canRedo(history)} aria-label="Redo" title="Redo (Ctrl+Shift+Z)">↷ Redo</Button>
          <span className="text-xs text-gray-500" data-testid="edit-count">{edits} edit{edits === 1 ? "" : "s"}</span>
          <label className="flex items-center gap-2">
            Method
            <select aria-label="Method" value={method} onChange={(e) => setMethod(e.target.value as TouchUpMethod)} className="rounded-md border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-700 dark:bg-gray-950">
              {METHODS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </label>
          <label className="flex items-center gap-1"><input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} /> Mask overlay</label>
          <input aria-label="Note" placeholder="note (optional)" value={note} onChange={(e) => setNote(e.target.value)} className="min-w-40 flex-1 rounded-md border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-700 dark:bg-gray-950" />
        </div>
      </Card>

      <div className="grid grid-cols-1 gap-4 xl:grid-cols-2">
        <Card title="Original with the current mask">
          {original.isError && <ErrorBox error={original.error} />}
          {original.data && (
            <div className="relative mx-auto w-fit select-none" data-testid="touch-up-stage">
              <img
                src={original.data.url}
                alt="Original"
                draggable={false}
                className="block h-auto max-h-[70vh] w-auto max-w-full"
                onLoad={(e) => {
                  const img = e.currentTarget;
                  if (!natural) setSize(defaultBrushSize({ width: img.naturalWidth, height: img.naturalHeight }));
                  setNatural({ width: img.naturalWidth, height: img.naturalHeight });
                }}
                data-testid="touch-up-original"
              />
              {overlay && currentMask.data && <img src={currentMask.data.url} alt="" className={`${maskOverlay} opacity-60`} data-testid="mask-overlay" />}
              {natural && (
                <canvas
                  ref={canvasRef}
                  width={natural.width}
                  height={natural.height}
                  className="absolute inset-0 h-full w-full touch-none"
                  style={{ cursor: tool === "add" || tool === "remove" ? "none" : "crosshair" }}
                  onPointerDown={onPointerDown}
                  onPointerMove={onPointerMove}
                  onPointerUp={onPointerUp}
                  onPointerCancel={onPointerUp}
                  onPointerLeave={() => setCursor(null)}
                  data-testid="touch-up-canvas"
                  data-natural-width={natural.width}
                  data-natural-height={natural.height}
                />
              )}
              {cursor && (tool === "add" || tool === "remove") && (
                <span
                  className={`pointer-events-none absolute rounded-full border-2 ${tool === "add" ? "border-green-500" : "border-red-500"}`}
                  style={{ left: cursor.x - cursor.d / 2, top: cursor.y - cursor.d / 2, width: cursor.d, height: cursor.d }}
                />
              )}
            </div>
          )}
          <p className="mt-2 text-xs text-gray-500">Dark: what the mask removes. Green strokes add to the product, red strokes remove; points guide GrabCut or the learned re-cut. Ctrl+Z undo, Ctrl+Shift+Z redo.</p>
        </Card>
        <Card title="Preview (not saved)">
          {!preview && <p className="text-sm text-gray-500">Press “Preview” to see the mask these edits make.</p>}
          {preview?.error && <p role="alert" className="text-sm text-red-600" data-testid="preview-error">{preview.error}</p>}
          {preview?.url && original.data && (
            <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
              <figure>
                <div className="relative mx-auto w-fit">
                  <img src={original.data.url} alt="" className="block h-auto max-h-[60vh] w-auto max-w-full" />
                  <img src={preview.url} alt="" className={`${maskOverlay} opacity-60`} />
                </div>
                <figcaption className="mt-1 text-xs text-gray-500">on the original</figcaption>
              </figure>
              <figure>
                <img src={preview.url} alt="Preview mask" className="block h-auto max-h-[60vh] w-auto max-w-full border border-gray-200 dark:border-gray-800" data-testid="preview-image" />
                <figcaption className="mt-1 text-xs text-gray-500">the new mask</figcaption>
              </figure>
            </div>
          )}
        </Card>
      </div>
    </div>
  );
}
