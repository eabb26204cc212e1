import { describe, expect, it } from "vitest";
import {
  appendPoint, canRedo, canUndo, defaultBrushSize, displayScale, emptyHistory, pointsOf, pushEdit, redo, strokesOf,
  toImagePoint, touchUpBody, undo, undoKey, type Edit,
} from "../lib/touchup";

const natural = { width: 2000, height: 1000 };

describe("toImagePoint", () => {
  it("maps a point on the displayed image to original pixels whatever the display scale", () => {
    // shown at 500x250 at (100, 50): a quarter of the original size
    const small = { left: 100, top: 50, width: 500, height: 250 };
    expect(toImagePoint(100, 50, small, natural)).toEqual([0, 0]);
    expect(toImagePoint(350, 175, small, natural)).toEqual([1000, 500]);
    expect(toImagePoint(600, 300, small, natural)).toEqual([2000, 1000]);
    // shown larger than the original (zoomed in 2x): the same image point
    const large = { left: 0, top: 0, width: 4000, height: 2000 };
    expect(toImagePoint(2000, 1000, large, natural)).toEqual([1000, 500]);
    expect(toImagePoint(123, 77, large, natural)).toEqual([61.5, 38.5]);
  });
  it("clamps points outside the image and survives an empty box", () => {
    const box = { left: 0, top: 0, width: 200, height: 100 };
    expect(toImagePoint(-20, 500, box, natural)).toEqual([0, 1000]);
    expect(toImagePoint(10, 10, { left: 0, top: 0, width: 0, height: 0 }, natural)).toEqual([0, 0]);
  });
  it("rounds to a tenth of a pixel", () => {
    const box = { left: 0, top: 0, width: 300, height: 150 };
    const [x, y] = toImagePoint(100, 100, box, natural);
    expect(x).toBe(666.7);
    expect(y).toBe(666.7);
  });
});

describe("brush helpers", () => {
  it("says how many original pixels a displayed pixel covers", () => {
    expect(displayScale({ left: 0, top: 0, width: 500, height: 250 }, natural)).toBe(4);
  });
  it("starts with a brush of about 3% of the longer side", () => {
    expect(defaultBrushSize(natural)).toBe(60);
    expect(defaultBrushSize({ width: 20, height: 10 })).toBe(2);
  });
  it("skips points closer than the gap to the last one", () => {
    let points: [number, number][] = [];
    points = appendPoint(points, [0, 0], 2);
    points = appendPoint(points, [1, 1], 2);
    points = appendPoint(points, [3, 0], 2);
    expect(points).toEqual([[0, 0], [3, 0]]);
  });
});

describe("undo stack", () => {
  const a: Edit = { kind: "stroke", stroke: { mode: "add", size: 10, points: [[1, 2], [3, 4]] } };
  const b: Edit = { kind: "point", point: { x: 5, y: 6, positive: false } };
  const c: Edit = { kind: "stroke", stroke: { mode: "remove", size: 4, points: [[7, 8]] } };

  it("undoes and redoes in order", () => {
    let h = pushEdit(pushEdit(emptyHistory, a), b);
    expect(canUndo(h)).toBe(true);
    expect(canRedo(h)).toBe(false);
    h = undo(h);
    expect(h.done).toEqual([a]);
    h = undo(h);
    expect(h.done).toEqual([]);
    expect(canUndo(h)).toBe(false);
    expect(undo(h)).toBe(h); // nothing left to undo
    h = redo(h);
    expect(h.done).toEqual([a]);
    h = redo(h);
    expect(h.done).toEqual([a, b]);
    expect(redo(h)).toBe(h);
  });
  it("forgets the undone edits when a new one is made", () => {
    let h = undo(pushEdit(pushEdit(emptyHistory, a), b));
    h = pushEdit(h, c);
    expect(h.done).toEqual([a, c]);
    expect(canRedo(h)).toBe(false);
  });
  it("does not change the history it was given", () => {
    const h = pushEdit(emptyHistory, a);
    undo(h);
    expect(h.done).toEqual([a]);
    expect(emptyHistory.done).toEqual([]);
  });
  it("builds the API body from what is done, not what was undone", () => {
    const h = undo(pushEdit(pushEdit(pushEdit(emptyHistory, a), b), c));
    expect(strokesOf(h)).toEqual([a.kind === "stroke" && a.stroke]);
    expect(pointsOf(h)).toEqual([{ x: 5, y: 6, positive: false }]);
    expect(touchUpBody(h, 2, "grabcut", "  edge fix ")).toEqual({
      base_version: 2,
      strokes: [{ mode: "add", size: 10, points: [[1, 2], [3, 4]] }],
      points: [{ x: 5, y: 6, positive: false }],
      method: "grabcut",
      note: "edge fix",
    });
    expect(touchUpBody(emptyHistory, 1, "paint", " ")).not.toHaveProperty("note");
  });
});

describe("undoKey", () => {
  const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }> = {}) =>
    undoKey({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, ...mods });
  it("maps ctrl/cmd+z to undo and shift or y to redo", () => {
    expect(key("z", { ctrlKey: true })).toBe("undo");
    expect(key("z", { metaKey: true })).toBe("undo");
    expect(key("Z", { ctrlKey: true, shiftKey: true })).toBe("redo");
    expect(key("y", { ctrlKey: true })).toBe("redo");
    expect(key("z")).toBeNull();
    expect(key("a", { ctrlKey: true })).toBeNull();
  });
});
