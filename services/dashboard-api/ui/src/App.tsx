import { Route, Routes } from "react-router-dom";
import { ApiKeyGate } from "./components/ApiKeyGate";
import { Layout } from "./components/Layout";
import { JobDetailPage } from "./pages/JobDetail";
import { JobsPage } from "./pages/Jobs";
import { OverviewPage } from "./pages/Overview";
import { WorkersPage } from "./pages/Workers";

export function App() {
  return (
    <ApiKeyGate>
      <Layout>
        <Routes>
          <Route path="/" element={<OverviewPage />} />
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/:id" element={<JobDetailPage />} />
          <Route path="/workers" element={<WorkersPage />} />
          <Route path="*" element={<p className="p-4">Page not found.</p>} />
        </Routes>
      </Layout>
    </ApiKeyGate>
  );
}
