import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, jobsQueryString, setApiKey } from "../lib/api";

describe("jobsQueryString", () => {
  it("repeats status, converts local dates to ISO and leaves out empty filters", () => {
    const query = jobsQueryString({ status: ["FAILED", "DONE"], sku: "AB", theme: "", page: 2, page_size: 25 });
    const params = new URLSearchParams(query.slice(1));
    expect(params.getAll("status")).toEqual(["FAILED", "DONE"]);
    expect(params.get("sku")).toBe("AB");
    expect(params.has("theme")).toBe(false);
    expect(params.get("page")).toBe("2");
    const dated = new URLSearchParams(jobsQueryString({ created_from: "2026-03-01T10:00" }).slice(1));
    expect(dated.get("created_from")).toBe(new Date("2026-03-01T10:00").toISOString());
    expect(jobsQueryString({})).toBe("");
  });
  it("sends the confidence filter and the least-certain-first sort", () => {
    const params = new URLSearchParams(jobsQueryString({ max_confidence: "0.8", sort: "confidence" }).slice(1));
    expect(params.get("max_confidence")).toBe("0.8");
    expect(params.get("sort")).toBe("confidence");
  });
});

describe("request", () => {
  const fetchMock = vi.fn();
  beforeEach(() => {
    localStorage.clear();
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockReset();
  });

  it("sends the saved API key and parses JSON", async () => {
    setApiKey("secret");
    fetchMock.mockResolvedValue(new Response(JSON.stringify({ items: [], total: 0 }), { status: 200 }));
    const page = await api.jobs({ status: ["FAILED"] });
    expect(page.total).toBe(0);
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/jobs?status=FAILED");
    expect(new Headers(init.headers).get("X-API-Key")).toBe("secret");
  });

  it("turns an error response into an ApiError carrying the server's reason", async () => {
    fetchMock.mockResolvedValue(
      new Response(JSON.stringify({ status_code: 409, detail: "job x is DONE; only FAILED jobs can be retried" }), { status: 409 }),
    );
    const error = await api.retry("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).message).toContain("only FAILED jobs");
    const [, init] = fetchMock.mock.calls[0];
    expect(init.method).toBe("POST");
  });

  it("posts the fail reason as JSON", async () => {
    fetchMock.mockResolvedValue(new Response("{}", { status: 200 }));
    await api.fail("j1", "blurry");
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/jobs/j1/fail");
    expect(JSON.parse(init.body)).toEqual({ reason: "blurry" });
    expect(new Headers(init.headers).get("Content-Type")).toBe("application/json");
  });
});
