// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setApiKey } from "../lib/api";
import { indexAfterRemoval, moveIndex, reviewKeyAction, toggle } from "../lib/review";
import { ReviewPage } from "../pages/Review";

describe("reviewKeyAction", () => {
  const press = (key: string, extra: Record<string, unknown> = {}) =>
    reviewKeyAction({ key, ctrlKey: false, metaKey: false, altKey: false, target: null, ...extra });
  it("maps a, r, j/k and the arrows", () => {
    expect(press("a")).toBe("approve");
    expect(press("r")).toBe("reject");
    expect(press("j")).toBe("next");
    expect(press("ArrowDown")).toBe("next");
    expect(press("ArrowRight")).toBe("next");
    expect(press("k")).toBe("previous");
    expect(press("ArrowUp")).toBe("previous");
    expect(press("x")).toBe("toggle-select");
    expect(press("q")).toBeNull();
  });
  it("ignores keys typed into a field or pressed with a modifier", () => {
    const input = document.createElement("input");
    const area = document.createElement("textarea");
    expect(press("a", { target: input })).toBeNull();
    expect(press("r", { target: area })).toBeNull();
    expect(press("a", { ctrlKey: true })).toBeNull();
    expect(press("j", { metaKey: true })).toBeNull();
    expect(press("a", { target: document.createElement("div") })).toBe("approve");
    const checkbox = document.createElement("input");
    checkbox.type = "checkbox";
    expect(press("a", { target: checkbox })).toBe("approve"); // after ticking a job
    const select = document.createElement("select");
    expect(press("j", { target: select })).toBeNull();
  });
});

describe("queue navigation", () => {
  it("stays inside the list", () => {
    expect(moveIndex(0, -1, 3)).toBe(0);
    expect(moveIndex(2, 1, 3)).toBe(2);
    expect(moveIndex(1, 1, 3)).toBe(2);
    expect(moveIndex(5, 1, 0)).toBe(0);
    expect(indexAfterRemoval(2, 2)).toBe(1);
    expect(indexAfterRemoval(0, 0)).toBe(0);
  });
  it("toggles a selection without changing the old set", () => {
    const before = new Set(["a"]);
    const after = toggle(before, "b");
    expect([...after].sort()).toEqual(["a", "b"]);
    expect(toggle(after, "a").has("a")).toBe(false);
    expect(before.size).toBe(1);
  });
});

function job(id: string, sku: string) {
  return {
    id, sku, theme: "studio", status: "IN_REVIEW", created_at: "2026-01-01T00:00:00Z", s3_composite_keys: [],
    mask_versions: [],
  };
}
const queue = {
  items: [
    { job: job("j1", "SKU-LOW"), confidence: 0.2, threshold: 0.8, reason: "confidence 20% under 80%", held_at: "2026-01-01T00:00:00Z" },
    { job: job("j2", "SKU-MID"), confidence: 0.5, threshold: 0.8, reason: "confidence 50% under 80%", held_at: "2026-01-01T00:00:00Z" },
  ],
  next_cursor: null,
};

describe("ReviewPage keyboard", () => {
  const fetchMock = vi.fn();
  let role = "operator";
  beforeEach(() => {
    localStorage.clear();
    setApiKey("k");
    role = "operator";
    fetchMock.mockImplementation(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? "GET";
      if (url.startsWith("/api/review") && method === "GET") return new Response(JSON.stringify(queue));
      if (url === "/api/me") return new Response(JSON.stringify({ name: "tester", role }));
      if (url.includes("/presign")) return new Response(JSON.stringify({ url: "data:image/png;base64,", key: "k", expires_in: 300, type: "x" }));
      if (url === "/api/review/approve") {
        const ids = JSON.parse(String(init?.body)).job_ids as string[];
        return new Response(JSON.stringify({ results: ids.map((job_id) => ({ job_id, ok: true })) }));
      }
      if (method === "POST") return new Response(JSON.stringify({ id: "x" }));
      return new Response("{}", { status: 404 });
    });
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    fetchMock.mockReset();
  });

  function renderPage() {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    return render(
      <QueryClientProvider client={client}>
        <MemoryRouter><ReviewPage /></MemoryRouter>
      </QueryClientProvider>,
    );
  }
  const posts = () => fetchMock.mock.calls.filter(([, init]) => init?.method === "POST").map(([url, init]) => [url, init.body]);

  it("shows the shortcuts, moves with j/k and approves the current job with a", async () => {
    renderPage();
    await screen.findByTestId("review-current");
    expect(screen.getByTestId("shortcuts").textContent).toContain("approve");
    expect(screen.getByTestId("review-current").getAttribute("data-job-id")).toBe("j1");
    fireEvent.keyDown(window, { key: "j" });
    expect(screen.getByTestId("review-current").getAttribute("data-job-id")).toBe("j2");
    fireEvent.keyDown(window, { key: "k" });
    expect(screen.getByTestId("review-current").getAttribute("data-job-id")).toBe("j1");
    await act(async () => { fireEvent.keyDown(window, { key: "a" }); });
    await waitFor(() => expect(posts()).toEqual([["/api/jobs/j1/approve", "{}"]]));
    // the approved job leaves the list; the next one is shown
    await waitFor(() => expect(screen.getByTestId("review-current").getAttribute("data-job-id")).toBe("j2"));
  });

  it("asks a reason on r and sends it", async () => {
    renderPage();
    await screen.findByTestId("review-current");
    fireEvent.keyDown(window, { key: "r" });
    const dialog = await screen.findByRole("dialog");
    const submit = screen.getByText("Reject job");
    expect((submit as HTMLButtonElement).disabled).toBe(true); // no reason, no reject
    fireEvent.change(dialog.querySelector("textarea")!, { target: { value: "halo around the handle" } });
    // typing "a" in the reason does not approve
    fireEvent.keyDown(dialog.querySelector("textarea")!, { key: "a" });
    await act(async () => { fireEvent.click(screen.getByText("Reject job")); });
    await waitFor(() => expect(posts()).toEqual([["/api/jobs/j1/reject", JSON.stringify({ reason: "halo around the handle" })]]));
  });

  it("bulk-approves the selected jobs", async () => {
    renderPage();
    await screen.findByTestId("review-current");
    fireEvent.click(screen.getByLabelText("Select all"));
    await act(async () => { fireEvent.click(screen.getByTestId("bulk-approve")); });
    await waitFor(() => expect(posts()).toEqual([["/api/review/approve", JSON.stringify({ job_ids: ["j1", "j2"] })]]));
  });

  it("disables the decisions for a viewer and ignores their keys", async () => {
    role = "viewer";
    renderPage();
    await screen.findByTestId("viewer-note");
    expect((screen.getByTestId("approve") as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId("reject") as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId("bulk-approve") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.keyDown(window, { key: "a" });
    fireEvent.keyDown(window, { key: "r" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(posts()).toEqual([]);
  });
});
