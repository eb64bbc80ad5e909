// Theme: dark by default, light on request; remembered in localStorage and applied from
// <html data-theme> (no inline script, so the stored choice lands when this bundle runs).
const KEY = "united-theme";

export function applyStoredTheme() {
  const stored = window.localStorage.getItem(KEY);
  if (stored === "light" || stored === "dark") document.documentElement.dataset.theme = stored;
}

applyStoredTheme();

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-theme-toggle]");
  if (!button) return;
  const next = document.documentElement.dataset.theme === "light" ? "dark" : "light";
  document.documentElement.dataset.theme = next;
  window.localStorage.setItem(KEY, next);
});
