import { useState, type ReactNode } from "react";
import { NavLink } from "react-router-dom";
import { setApiKey } from "../lib/api";
import { useReviewCount } from "../lib/hooks";

const LINKS = [
  { to: "/", label: "Overview", end: true },
  { to: "/jobs", label: "Jobs", end: false },
  { to: "/review", label: "Review", end: false },
  { to: "/themes", label: "Themes", end: false },
  { to: "/workers", label: "Workers", end: false },
];

function ReviewBadge() {
  const count = useReviewCount();
  if (!count.data) return null;
  return (
    <span className="ml-2 inline-flex min-w-5 items-center justify-center rounded-full bg-orange-500 px-1.5 text-xs font-bold text-white" data-testid="review-badge" aria-label={`${count.data} held for review`}>
      {count.data}
    </span>
  );
}

function toggleTheme() {
  const dark = document.documentElement.classList.toggle("dark");
  localStorage.setItem("plinth.theme", dark ? "dark" : "light");
}

export function Layout({ children }: { children: ReactNode }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const linkClass = ({ isActive }: { isActive: boolean }) =>
    `block rounded-md px-3 py-2 text-sm font-medium ${isActive ? "bg-indigo-600 text-white" : "text-gray-700 hover:bg-gray-200 dark:text-gray-300 dark:hover:bg-gray-800"}`;
  return (
    <div className="min-h-screen md:flex">
      <aside className={`${menuOpen ? "block" : "hidden"} border-b border-gray-200 bg-white p-3 md:block md:min-h-screen md:w-52 md:border-b-0 md:border-r dark:border-gray-800 dark:bg-gray-900`}>
        <div className="mb-4 hidden px-3 text-lg font-bold md:block">Plinth</div>
        <nav className="space-y-1" aria-label="Main">
          {LINKS.map((l) => (
            <NavLink key={l.to} to={l.to} end={l.end} className={linkClass} onClick={() => setMenuOpen(false)}>
              {l.label}
              {l.to === "/review" && <ReviewBadge />}
            </NavLink>
          ))}
        </nav>
      </aside>
      <div className="min-w-0 flex-1">
        <header className="flex items-center justify-between gap-2 border-b border-gray-200 bg-white px-4 py-3 dark:border-gray-800 dark:bg-gray-900">
          <div className="flex items-center gap-2">
            <button className="rounded p-1 md:hidden" aria-label="Menu" onClick={() => setMenuOpen(!menuOpen)}>☰</button>
            <span className="font-semibold md:hidden">Plinth</span>
            <span className="hidden text-sm text-gray-500 md:inline">Product-image pipeline</span>
          </div>
          <div className="flex items-center gap-2">
            <button className="rounded-md px-2 py-1 text-sm hover:bg-gray-100 dark:hover:bg-gray-800" onClick={toggleTheme} aria-label="Toggle dark mode">
              ◐ Theme
            </button>
            <button
              className="rounded-md px-2 py-1 text-sm hover:bg-gray-100 dark:hover:bg-gray-800"
              onClick={() => {
                setApiKey(null);
                window.location.reload();
              }}
            >
              Sign out
            </button>
          </div>
        </header>
        <main className="mx-auto max-w-7xl p-4">{children}</main>
      </div>
    </div>
  );
}
