import { describe, expect, it } from "vitest";
import { PIPELINE } from "../lib/api";
import { fillTemplate, formatConfidence, formatCost, formatDuration, relativeTime, stepIndex } from "../lib/format";

describe("relativeTime", () => {
  const now = new Date("2026-03-01T12:00:00Z");
  it("formats past and future instants", () => {
    expect(relativeTime("2026-03-01T11:59:58Z", now)).toBe("just now");
    expect(relativeTime("2026-03-01T11:58:00Z", now)).toBe("2m ago");
    expect(relativeTime("2026-03-01T09:00:00Z", now)).toBe("3h ago");
    expect(relativeTime("2026-02-27T12:00:00Z", now)).toBe("2d ago");
    expect(relativeTime("2026-03-01T12:10:00Z", now)).toBe("in 10m");
    expect(relativeTime(null, now)).toBe("—");
  });
});

describe("formatters", () => {
  it("formats costs with sub-cent precision", () => {
    expect(formatCost(1.5)).toBe("$1.50");
    expect(formatCost(0.0042)).toBe("$0.0042");
    expect(formatCost(0)).toBe("$0.00");
    expect(formatCost(null)).toBe("—");
  });
  it("formats a cut-out's confidence as a percentage", () => {
    expect(formatConfidence(0.423)).toBe("42%");
    expect(formatConfidence(1)).toBe("100%");
    expect(formatConfidence(0)).toBe("0%");
    expect(formatConfidence(null)).toBe("—");
  });
  it("formats durations", () => {
    expect(formatDuration(420)).toBe("420 ms");
    expect(formatDuration(1500)).toBe("1.5 s");
    expect(formatDuration(125_000)).toBe("2m 5s");
    expect(formatDuration(undefined)).toBe("—");
  });
  it("fills the trace link template and encodes the id", () => {
    expect(fillTemplate("https://t.example/trace/{trace_id}?x={trace_id}", "ab/c")).toBe(
      "https://t.example/trace/ab%2Fc?x=ab%2Fc",
    );
  });
});

describe("stepIndex", () => {
  it("places live, failed and legacy jobs on the 7-step pipeline", () => {
    expect(stepIndex("NEW", null, PIPELINE)).toBe(0);
    expect(stepIndex("DONE", null, PIPELINE)).toBe(6);
    expect(stepIndex("FAILED", "COMPOSITED", PIPELINE)).toBe(3);
    expect(stepIndex("BG_GENERATING", null, PIPELINE)).toBe(1);
  });
});

describe("stepIndex for a held job", () => {
  it("stands an IN_REVIEW job at the Shopify push, everything before it done", () => {
    expect(stepIndex("IN_REVIEW", null, PIPELINE)).toBe(PIPELINE.indexOf("SHOPIFY_PUSH"));
    // a job rejected in review stands there too
    expect(stepIndex("FAILED", "IN_REVIEW", PIPELINE)).toBe(PIPELINE.indexOf("SHOPIFY_PUSH"));
  });
});
