// Keyboard handling and selection of the review queue (unit-tested).

export type ReviewAction = "approve" | "reject" | "next" | "previous" | "toggle-select";

export const REVIEW_SHORTCUTS: [string, string][] = [
  ["a", "approve"],
  ["r", "reject (asks a reason)"],
  ["j / ↓", "next"],
  ["k / ↑", "previous"],
  ["x", "select for bulk approve"],
];

type KeyLike = Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey"> & { target?: EventTarget | null };

/** Whether a key press goes to a text field (where letters and Ctrl+Z are the field's own). */
export function typing(target: EventTarget | null | undefined): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== "string") return false;
  const element = target as HTMLElement;
  const tag = element.tagName.toLowerCase();
  if (tag === "input") {
    // a focused checkbox (selecting jobs) or button still lets the shortcuts through
    const type = ((element as HTMLInputElement).type || "text").toLowerCase();
    return !["checkbox", "radio", "button", "submit", "reset", "range", "color"].includes(type);
  }
  return tag === "textarea" || tag === "select" || element.isContentEditable;
}

/** The queue's action for a key press, or null (typing in a field, a modifier held, other key). */
export function reviewKeyAction(e: KeyLike): ReviewAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return null;
  switch (e.key) {
    case "a": case "A": return "approve";
    case "r": case "R": return "reject";
    case "j": case "J": case "ArrowDown": case "ArrowRight": return "next";
    case "k": case "K": case "ArrowUp": case "ArrowLeft": return "previous";
    case "x": case "X": return "toggle-select";
    default: return null;
  }
}

/** The index after moving by `delta`, kept inside 0..count-1 (0 for an empty list). */
export function moveIndex(index: number, delta: number, count: number): number {
  if (count <= 0) return 0;
  return Math.min(Math.max(index + delta, 0), count - 1);
}

/** After the job at `index` left the queue: which one to show next (the one now in its place). */
export function indexAfterRemoval(index: number, countAfter: number): number {
  return countAfter <= 0 ? 0 : Math.min(index, countAfter - 1);
}

export function toggle(selected: ReadonlySet<string>, id: string): Set<string> {
  const next = new Set(selected);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}
