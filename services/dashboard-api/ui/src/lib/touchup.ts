// Pure logic of the touch-up page (unit-tested): mapping pointer positions to ORIGINAL image
// pixels, the undo/redo stack of edits, and the request body sent to the API.
import type { ClickPoint, Stroke, TouchUpBody, TouchUpMethod } from "./api";

export interface Box { left: number; top: number; width: number; height: number }
export interface Size { width: number; height: number }

/**
 * A point on screen (clientX/Y) -> the pixel of the original image under it. `box` is the
 * element's bounding box as displayed (getBoundingClientRect), `natural` the original's size:
 * the result does not depend on how large the image is shown. Clamped to the image, rounded to
 * 0.1 px.
 */
export function toImagePoint(clientX: number, clientY: number, box: Box, natural: Size): [number, number] {
  if (box.width <= 0 || box.height <= 0) return [0, 0];
  const x = ((clientX - box.left) / box.width) * natural.width;
  const y = ((clientY - box.top) / box.height) * natural.height;
  const clamp = (v: number, max: number) => Math.round(Math.min(Math.max(v, 0), max) * 10) / 10;
  return [clamp(x, natural.width), clamp(y, natural.height)];
}

/** How many original pixels one displayed pixel covers (brush size on screen = size / scale). */
export function displayScale(box: Box, natural: Size): number {
  return box.width > 0 ? natural.width / box.width : 1;
}

/** A default brush: about 3% of the image's longer side, at least 2 px. */
export function defaultBrushSize(natural: Size): number {
  return Math.max(2, Math.round(Math.max(natural.width, natural.height) * 0.03));
}

/** Drop points closer than `minGap` px to the previous one (a drag sends many). */
export function appendPoint(points: [number, number][], point: [number, number], minGap = 1): [number, number][] {
  const last = points[points.length - 1];
  if (last && Math.hypot(point[0] - last[0], point[1] - last[1]) < minGap) return points;
  return [...points, point];
}

export type Edit = { kind: "stroke"; stroke: Stroke } | { kind: "point"; point: ClickPoint };

/** An undo/redo history of edits; every operation returns a new value (React state). */
export interface EditHistory { done: Edit[]; undone: Edit[] }

export const emptyHistory: EditHistory = { done: [], undone: [] };

export function pushEdit(history: EditHistory, edit: Edit): EditHistory {
  return { done: [...history.done, edit], undone: [] }; // a new edit forgets what was undone
}
export function undo(history: EditHistory): EditHistory {
  if (history.done.length === 0) return history;
  const last = history.done[history.done.length - 1];
  return { done: history.done.slice(0, -1), undone: [last, ...history.undone] };
}
export function redo(history: EditHistory): EditHistory {
  if (history.undone.length === 0) return history;
  const [next, ...rest] = history.undone;
  return { done: [...history.done, next], undone: rest };
}
export const canUndo = (history: EditHistory) => history.done.length > 0;
export const canRedo = (history: EditHistory) => history.undone.length > 0;

export function strokesOf(history: EditHistory): Stroke[] {
  return history.done.flatMap((e) => (e.kind === "stroke" ? [e.stroke] : []));
}
export function pointsOf(history: EditHistory): ClickPoint[] {
  return history.done.flatMap((e) => (e.kind === "point" ? [e.point] : []));
}

export function touchUpBody(history: EditHistory, baseVersion: number, method: TouchUpMethod, note?: string): TouchUpBody {
  const body: TouchUpBody = { base_version: baseVersion, strokes: strokesOf(history), points: pointsOf(history), method };
  if (note && note.trim()) body.note = note.trim();
  return body;
}

/** Keyboard shortcuts of the touch-up page: ctrl/cmd+z undo, ctrl/cmd+shift+z or ctrl+y redo. */
export function undoKey(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey">): "undo" | "redo" | null {
  if (!(e.ctrlKey || e.metaKey)) return null;
  const key = e.key.toLowerCase();
  if (key === "z") return e.shiftKey ? "redo" : "undo";
  if (key === "y") return "redo";
  return null;
}
