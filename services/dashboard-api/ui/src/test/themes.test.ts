import { describe, expect, it } from "vitest";
import { backgroundColourFields, getPath, parseThemeJson, setPath, switchBackground } from "../lib/themeForm";
import { errorsFor, fieldErrors, otherErrors } from "../lib/validation";

describe("fieldErrors", () => {
  it("reads pydantic-style errors and drops the leading 'theme'", () => {
    const errors = fieldErrors({
      detail: "invalid theme",
      errors: [
        { loc: ["theme", "background", "colour"], msg: "colour 'red' must be '#rrggbb'" },
        { loc: ["variants"], msg: "Input should be less than or equal to 12" },
      ],
    });
    expect(errors).toEqual({
      "background.colour": ["colour 'red' must be '#rrggbb'"],
      variants: ["Input should be less than or equal to 12"],
    });
    expect(errorsFor(errors, "background")).toEqual(["colour: colour 'red' must be '#rrggbb'"]);
    expect(errorsFor(errors, "variants")).toEqual(["Input should be less than or equal to 12"]);
    expect(errorsFor(errors, "title")).toEqual([]);
  });
  it("reads the themes API's extra.problems", () => {
    const body = {
      status_code: 422,
      detail: "theme.background.floor_line: must be below the horizon",
      extra: { problems: [{ field: "theme.background.floor_line", message: "must be below the horizon" }, { field: "theme.name", message: "taken" }] },
    };
    expect(fieldErrors(body)).toEqual({ "background.floor_line": ["must be below the horizon"], name: ["taken"] });
  });
  it("reads Litestar's extra list with dotted keys and a single field", () => {
    expect(fieldErrors({ detail: "Validation failed", extra: [{ key: "theme.shadow.opacity", message: "too big" }] })).toEqual({
      "shadow.opacity": ["too big"],
    });
    expect(fieldErrors({ detail: "theme 'x' exists", field: "name" })).toEqual({ name: ["theme 'x' exists"] });
    expect(fieldErrors({ detail: [{ loc: ["body", "theme", "stops[1]", "at"], msg: "bad" }] })).toEqual({ "stops.1.at": ["bad"] });
    expect(fieldErrors(null)).toEqual({});
    expect(fieldErrors("oops")).toEqual({});
  });
  it("lists the errors naming no form field separately", () => {
    const errors = { "vignette.strength": ["too big"], name: ["taken"] };
    expect(otherErrors(errors, ["name", "title"])).toEqual(["vignette.strength: too big"]);
  });
});

describe("theme form", () => {
  it("sets and removes nested values without changing the original", () => {
    const theme = { name: "a", background: { kind: "linear", stops: [{ at: 0, colour: "#000000" }, { at: 1, colour: "#ffffff" }] } };
    const next = setPath(theme, ["background", "stops", 1, "colour"], "#ff0000");
    expect(getPath(next, ["background", "stops", 1, "colour"])).toBe("#ff0000");
    expect(Array.isArray(getPath(next, ["background", "stops"]))).toBe(true);
    expect(theme.background.stops[1].colour).toBe("#ffffff");
    expect(setPath({ a: 1, b: 2 }, ["b"], undefined)).toEqual({ a: 1 });
  });
  it("names the colour fields of each background kind and keeps colours across a switch", () => {
    const solid = { kind: "solid", colour: "#123456" };
    expect(backgroundColourFields(solid)).toEqual([[["colour"], "Colour"]]);
    const linear = switchBackground(solid, "linear");
    expect(linear).toEqual({ kind: "linear", angle_deg: 90, stops: [{ at: 0, colour: "#123456" }, { at: 1, colour: "#123456" }] });
    expect(backgroundColourFields(linear).map(([p]) => p)).toEqual([["stops", 0, "colour"], ["stops", 1, "colour"]]);
    const sweep = switchBackground(linear, "sweep");
    expect(backgroundColourFields(sweep)).toHaveLength(4);
    expect(switchBackground(sweep, "solid")).toEqual({ kind: "solid", colour: "#123456" });
  });
  it("parses the JSON editor's text or says why not", () => {
    expect(parseThemeJson('{"name": "x"}')).toEqual({ theme: { name: "x" }, error: null });
    expect(parseThemeJson("[1]").error).toMatch(/object/);
    expect(parseThemeJson("{").theme).toBeNull();
  });
});
