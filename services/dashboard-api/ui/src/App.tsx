import { Route, Routes } from "react-router-dom";
import { ApiKeyGate } from "./components/ApiKeyGate";
import { Layout } from "./components/Layout";
import { JobDetailPage } from "./pages/JobDetail";
import { JobsPage } from "./pages/Jobs";
import { OverviewPage } from "./pages/Overview";
import { ReviewPage } from "./pages/Review";
import { ThemeEditorPage } from "./pages/ThemeEditor";
import { ThemesPage } from "./pages/Themes";
import { TouchUpPage } from "./pages/TouchUp";
import { WorkersPage } from "./pages/Workers";

export function App() {
  return (
    <ApiKeyGate>
      <Layout>
        <Routes>
          <Route path="/" element={<OverviewPage />} />
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/:id" element={<JobDetailPage />} />
          <Route path="/jobs/:id/touch-up" element={<TouchUpPage />} />
          <Route path="/review" element={<ReviewPage />} />
          <Route path="/themes" element={<ThemesPage />} />
          <Route path="/themes/:name" element={<ThemeEditorPage />} />
          <Route path="/workers" element={<WorkersPage />} />
          <Route path="*" element={<p className="p-4">Page not found.</p>} />
        </Routes>
      </Layout>
    </ApiKeyGate>
  );
}
