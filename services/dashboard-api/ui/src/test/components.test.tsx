// @vitest-environment jsdom
import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Stepper } from "../components/Stepper";
import { StatusBadge } from "../components/ui";
import type { Job } from "../lib/api";
import { filtersFromParams } from "../pages/Jobs";
import { MemoryRouter } from "react-router-dom";
import { SegmentationCard, jobAssets, segmentInfo } from "../pages/JobDetail";
import { setTraceTemplate, traceTemplate } from "../lib/settings";

afterEach(cleanup);

describe("Stepper", () => {
  it("marks the steps before a failure done and the failed one with '!'", () => {
    render(<Stepper job={{ status: "FAILED", failed_from: "COMPOSITED" }} />);
    const steps = screen.getAllByRole("listitem");
    expect(steps).toHaveLength(7);
    expect(steps.slice(0, 3).every((s) => s.textContent?.startsWith("✓"))).toBe(true);
    expect(steps[3].textContent?.startsWith("!")).toBe(true);
    expect(steps[3].getAttribute("aria-current")).toBe("step");
    expect(steps[4].textContent?.startsWith("5")).toBe(true);
  });
  it("shows a finished job with every step done", () => {
    render(<Stepper job={{ status: "DONE", failed_from: null }} />);
    expect(screen.getAllByRole("listitem").every((s) => s.textContent?.startsWith("✓"))).toBe(true);
  });
});

describe("StatusBadge", () => {
  it("renders the status text", () => {
    render(<StatusBadge status="FAILED" />);
    expect(screen.getByTestId("status-badge").textContent).toBe("FAILED");
  });
});

describe("filtersFromParams", () => {
  it("keeps known statuses only and reads the other filters", () => {
    const filters = filtersFromParams(new URLSearchParams("status=FAILED&status=BOGUS&sku=AB&page=3"));
    expect(filters.status).toEqual(["FAILED"]);
    expect(filters.sku).toBe("AB");
    expect(filters.page).toBe(3);
    expect(filtersFromParams(new URLSearchParams("page=-4")).page).toBe(1);
    expect(filtersFromParams(new URLSearchParams("max_confidence=0.8&sort=confidence"))).toMatchObject({
      max_confidence: "0.8",
      sort: "confidence",
    });
  });
});

describe("jobAssets", () => {
  it("lists every stored artefact with the presign parameters that fetch it", () => {
    const job = {
      s3_original_key: "originals/A/x.jpg",
      s3_cutout_key: null,
      s3_mask_key: null,
      s3_background_keys: ["backgrounds/t/A/x_0.jpg"],
      s3_composite_keys: [],
      s3_derivative_keys: ["derivatives/t/A/x/0_thumb.webp"],
      manifest_s3_key: "manifests/A/x-t.json",
    } as unknown as Job;
    expect(jobAssets(job).map((a) => [a.label, a.params])).toEqual([
      ["Original", { type: "original" }],
      ["Background 0", { type: "background", index: 0 }],
      ["Derivative 0_thumb.webp", { type: "derivative", index: 0 }],
      ["Manifest", { type: "manifest" }],
    ]);
  });
});

describe("segmentation", () => {
  const sha = "ab12cd34ef56".padEnd(64, "0");
  it("shows the confidence, provider, model, its sha256 prefix and the job it was reused from", () => {
    const info = segmentInfo({
      segment_confidence: 0.42,
      provider_metadata: { segment: { provider: "onnx", model: "isnet", model_sha256: sha, reused_from: "job-1" } },
    });
    expect(info).toEqual({ confidence: 0.42, provider: "onnx", model: "isnet", modelSha256: sha, reusedFrom: "job-1", glass: null });
    render(<MemoryRouter><SegmentationCard info={info!} /></MemoryRouter>);
    expect(screen.getByTestId("segment-confidence").textContent).toBe("42%");
    const card = screen.getByTestId("segmentation").textContent ?? "";
    expect(card).toContain("onnx");
    expect(card).toContain("isnet");
    expect(card).toContain("ab12cd34ef56");
    expect(card).not.toContain(sha);
    const link = screen.getByRole("link", { name: "job job-1" });
    expect(link.getAttribute("href")).toBe("/jobs/job-1");
  });
  it("has nothing to show before the segment stage and no reuse line for a fresh cut-out", () => {
    expect(segmentInfo({ segment_confidence: null, provider_metadata: {} })).toBeNull();
    const info = segmentInfo({ segment_confidence: null, provider_metadata: { segment: { provider: "local" } } });
    render(<MemoryRouter><SegmentationCard info={info!} /></MemoryRouter>);
    expect(screen.getByTestId("segment-confidence").textContent).toBe("—");
    expect(screen.queryByTestId("segment-reused")).toBeNull();
    expect(screen.queryByTestId("segment-glass")).toBeNull();
  });
  it("says when a glass body was given partial alpha, and how much", () => {
    const info = segmentInfo({
      segment_confidence: 0.9,
      provider_metadata: { segment: { provider: "learned", translucent: { opacity: 0.347, share: 0.7715 } } },
    });
    expect(info?.glass).toEqual({ opacity: 0.347, share: 0.7715 });
    render(<MemoryRouter><SegmentationCard info={info!} /></MemoryRouter>);
    expect(screen.getByTestId("segment-glass").textContent).toBe("Glass body35% opaque, 77% of the product");
    const broken = segmentInfo({ segment_confidence: 0.9, provider_metadata: { segment: { translucent: { opacity: "x" } } } });
    expect(broken?.glass).toBeNull();
  });
});

describe("traceTemplate", () => {
  afterEach(() => localStorage.clear());
  it("is null (no 'Open in trace viewer' link) when neither the server nor this browser has one", () => {
    expect(traceTemplate(null)).toBeNull();
    expect(traceTemplate("")).toBeFalsy();
  });
  it("prefers this browser's template over the server's", () => {
    expect(traceTemplate("https://server/{trace_id}")).toBe("https://server/{trace_id}");
    setTraceTemplate("https://mine/{trace_id}");
    expect(traceTemplate(null)).toBe("https://mine/{trace_id}");
    setTraceTemplate("");
    expect(traceTemplate(null)).toBeNull();
  });
});
