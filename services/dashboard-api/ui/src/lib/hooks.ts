import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type JobFilters } from "./api";

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
