// Pure helpers of the theme editor's structured form (unit-tested).
import type { ThemeDoc } from "./api";

export type Path = (string | number)[];

export function getPath(value: unknown, path: Path): unknown {
  let at: unknown = value;
  for (const part of path) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<string | number, unknown>)[part];
  }
  return at;
}

/** A copy of `doc` with `path` set to `value`; `undefined` removes the key. */
export function setPath<T>(doc: T, path: Path, value: unknown): T {
  if (path.length === 0) return value as T;
  const [head, ...rest] = path;
  const base: Record<string | number, unknown> =
    Array.isArray(doc) ? ([...doc] as unknown as Record<number, unknown>) : { ...((doc ?? {}) as Record<string, unknown>) };
  const child = setPath(base[head], rest, value);
  if (child === undefined) delete base[head];
  else base[head] = child;
  return base as T;
}

export const BACKGROUND_KINDS = ["solid", "linear", "radial", "sweep"] as const;
export type BackgroundKind = (typeof BACKGROUND_KINDS)[number];

/** The colour fields each kind of background has in the form (paths under "background"). */
export function backgroundColourFields(background: Record<string, unknown>): [Path, string][] {
  switch (background.kind) {
    case "solid":
      return [[["colour"], "Colour"]];
    case "linear":
    case "radial": {
      const stops = Array.isArray(background.stops) ? background.stops : [];
      return stops.map((_, i) => [["stops", i, "colour"], `Stop ${i + 1}`] as [Path, string]);
    }
    case "sweep":
      return [
        [["wall_top"], "Wall top"], [["wall_bottom"], "Wall bottom"],
        [["floor_far"], "Floor far"], [["floor_near"], "Floor near"],
      ];
    default:
      return [];
  }
}

/** Colours of the old background carried over to a new kind, so switching keeps the look. */
export function switchBackground(background: Record<string, unknown>, kind: BackgroundKind): Record<string, unknown> {
  const colours = backgroundColourFields(background)
    .map(([path]) => getPath(background, path))
    .filter((c): c is string => typeof c === "string");
  const first = colours[0] ?? "#f4f4f4";
  const last = colours[colours.length - 1] ?? "#d9d9d9";
  switch (kind) {
    case "solid":
      return { kind, colour: first };
    case "linear":
      return { kind, angle_deg: 90, stops: [{ at: 0, colour: first }, { at: 1, colour: last }] };
    case "radial":
      return { kind, stops: [{ at: 0, colour: first }, { at: 1, colour: last }] };
    case "sweep":
      return { kind, wall_top: first, wall_bottom: colours[1] ?? first, floor_far: colours[2] ?? last, floor_near: last };
  }
}

export const NEW_THEME: ThemeDoc = {
  name: "",
  title: "",
  description: "",
  background: { kind: "solid", colour: "#f4f4f4" },
  variants: 3,
  prompt: "Plain light studio backdrop, empty, product photography",
};

/** The form's fields (the paths validation errors are matched against). */
export const FORM_FIELDS = [
  "name", "title", "description", "background", "variants", "placement", "shadow", "margins",
  "review_threshold", "alt_text_template", "prompt",
];

/** JSON text -> a theme object, or the reason it is not one. */
export function parseThemeJson(text: string): { theme: ThemeDoc; error: null } | { theme: null; error: string } {
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) return { theme: null, error: "the theme must be a JSON object" };
    return { theme: value as ThemeDoc, error: null };
  } catch (err) {
    return { theme: null, error: err instanceof Error ? err.message : String(err) };
  }
}

export const THEME_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
