import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api, type JobFilters, type TouchUpBody } from "./api";

export const useJobs = (filters: JobFilters) =>
  useQuery({ queryKey: ["jobs", filters], queryFn: () => api.jobs(filters), refetchInterval: 10_000, placeholderData: (prev) => prev });
export const useJob = (id: string) => useQuery({ queryKey: ["job", id], queryFn: () => api.job(id), refetchInterval: 5_000 });
export const useStats = () => useQuery({ queryKey: ["stats"], queryFn: api.stats, refetchInterval: 30_000 });
export const useProcessor = () => useQuery({ queryKey: ["processor"], queryFn: api.processor, refetchInterval: 5_000 });
export const useHealth = () => useQuery({ queryKey: ["health"], queryFn: api.health, refetchInterval: 10_000 });
export const usePresigned = (id: string, params: Record<string, string | number>, enabled = true) =>
  useQuery({
    queryKey: ["presign", id, params],
    queryFn: () => api.presign(id, params),
    enabled,
    staleTime: 60_000, // URLs live 5 minutes; refresh well before they expire
    refetchInterval: 120_000,
  });

function useInvalidateJobs() {
  const client = useQueryClient();
  return () => {
    for (const key of ["jobs", "job", "stats"]) client.invalidateQueries({ queryKey: [key] });
  };
}

export function useRetryJob() {
  const invalidate = useInvalidateJobs();
  return useMutation({ mutationFn: (id: string) => api.retry(id), onSuccess: invalidate });
}

export function useFailJob() {
  const invalidate = useInvalidateJobs();
  return useMutation({ mutationFn: ({ id, reason }: { id: string; reason: string }) => api.fail(id, reason), onSuccess: invalidate });
}

export function useControl() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ action, stage }: { action: "start" | "stop"; stage: string }) => api.control(action, stage),
    onSuccess: () => client.invalidateQueries({ queryKey: ["processor"] }),
  });
}

// ---- issue 20: review queue, touch-up, themes, alt text ----

/** Who the API key belongs to; where the API has no /api/me, the role is unknown (null). */
export const useMe = () =>
  useQuery({
    queryKey: ["me"],
    queryFn: async () => {
      try {
        return await api.me();
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
        throw error;
      }
    },
    staleTime: 300_000,
    refetchInterval: false,
  });

/** false only when the API says this key is a viewer (buttons that need an operator are disabled). */
export function useCanOperate(): boolean {
  const me = useMe();
  return me.data?.role !== "viewer";
}

export const useReviewQueue = () =>
  useQuery({ queryKey: ["review"], queryFn: () => api.review(null, 200), refetchInterval: 10_000 });

/** How many jobs wait for review (the nav badge). */
export const useReviewCount = () =>
  useQuery({
    queryKey: ["jobs", { status: ["IN_REVIEW"], page_size: 1 }],
    queryFn: () => api.jobs({ status: ["IN_REVIEW"], page_size: 1 }),
    refetchInterval: 15_000,
    select: (page) => page.total,
  });

function useInvalidateReview() {
  const client = useQueryClient();
  return () => {
    for (const key of ["review", "jobs", "job", "stats", "masks", "audit"]) client.invalidateQueries({ queryKey: [key] });
  };
}

export function useApprove() {
  const invalidate = useInvalidateReview();
  return useMutation({ mutationFn: ({ id, note }: { id: string; note?: string }) => api.approve(id, note), onSuccess: invalidate });
}
export function useReject() {
  const invalidate = useInvalidateReview();
  return useMutation({ mutationFn: ({ id, reason }: { id: string; reason: string }) => api.reject(id, reason), onSuccess: invalidate });
}
export function useApproveMany() {
  const invalidate = useInvalidateReview();
  return useMutation({ mutationFn: (ids: string[]) => api.approveMany(ids), onSuccess: invalidate });
}
export function useTouchUp() {
  const invalidate = useInvalidateReview();
  return useMutation({ mutationFn: ({ id, body }: { id: string; body: TouchUpBody }) => api.touchUp(id, body), onSuccess: invalidate });
}
export function useAltText() {
  const invalidate = useInvalidateReview();
  return useMutation({ mutationFn: ({ id, altText }: { id: string; altText: string }) => api.setAltText(id, altText), onSuccess: invalidate });
}

export const useMasks = (id: string, enabled = true) =>
  useQuery({ queryKey: ["masks", id], queryFn: () => api.masks(id), enabled, staleTime: 60_000, refetchInterval: 120_000 });
export const useAudit = (id: string) =>
  useQuery({
    queryKey: ["audit", id],
    queryFn: () => api.audit(id),
    select: (body) => (Array.isArray(body) ? body : body.items),
    retry: false,
  });

export const useThemes = (includeArchived: boolean) =>
  useQuery({ queryKey: ["themes", includeArchived], queryFn: () => api.themes(includeArchived), refetchInterval: 30_000 });
export const useTheme = (name: string, enabled = true) =>
  useQuery({ queryKey: ["theme", name], queryFn: () => api.theme(name), enabled, refetchInterval: false });

export function useInvalidateThemes() {
  const client = useQueryClient();
  return () => {
    client.invalidateQueries({ queryKey: ["themes"] });
    client.invalidateQueries({ queryKey: ["theme"] });
  };
}
