import { useState, type FormEvent, type ReactNode } from "react";
import { ApiError, getApiKey, request, setApiKey } from "../lib/api";
import { Button, Card } from "./ui";

// Asks for the API key once, checks it against the API, and keeps it in localStorage.
export function ApiKeyGate({ children }: { children: ReactNode }) {
  const [key, setKey] = useState<string | null>(getApiKey());
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  if (key) return <>{children}</>;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setChecking(true);
    setError(null);
    setApiKey(draft.trim());
    try {
      await request("/api/jobs?page_size=1");
      setKey(draft.trim());
    } catch (err) {
      setApiKey(null);
      setError(err instanceof ApiError && err.status === 401 ? "That API key is not valid." : String(err));
    } finally {
      setChecking(false);
    }
  }

  return (
    <div className="flex min-h-screen items-center justify-center p-4">
      <Card title="Plinth dashboard" className="w-full max-w-sm">
        <form onSubmit={submit} className="space-y-3">
          <label className="block text-sm">
            API key
            <input
              type="password"
              name="api-key"
              autoComplete="current-password"
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              className="mt-1 w-full rounded-md border border-gray-300 bg-white px-3 py-2 dark:border-gray-700 dark:bg-gray-950"
            />
          </label>
          {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
          <Button type="submit" disabled={!draft.trim() || checking} className="w-full">
            {checking ? "Checking…" : "Sign in"}
          </Button>
        </form>
      </Card>
    </div>
  );
}
