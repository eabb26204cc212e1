// Browser-side preferences kept in localStorage.
const TRACE_TEMPLATE = "plinth.traceTemplate";

export function traceTemplate(serverDefault: string | null): string | null {
  return localStorage.getItem(TRACE_TEMPLATE) || serverDefault;
}
export function setTraceTemplate(template: string): void {
  if (template) localStorage.setItem(TRACE_TEMPLATE, template);
  else localStorage.removeItem(TRACE_TEMPLATE);
}
