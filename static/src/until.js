// How long until a moment, in words a person reads at a glance, with the clock time in their
// own zone: "in 9 minutes (14:32)", "in 40 seconds (14:32)", "in 3 days (Thu 9 Jan, 14:32)".
// `zone` and `locale` default to the browser's (the tests pin them).
export function untilWords(until, now = Date.now(), { zone, locale } = {}) {
  const left = Math.max(0, until.getTime() - now);
  const seconds = Math.ceil(left / 1000);
  let span;
  if (seconds < 60) span = `${seconds} second${seconds === 1 ? "" : "s"}`;
  else if (seconds < 3600) {
    const minutes = Math.ceil(seconds / 60);
    span = `${minutes} minute${minutes === 1 ? "" : "s"}`;
  } else if (seconds < 48 * 3600) {
    const hours = Math.round(seconds / 3600);
    span = `${hours} hour${hours === 1 ? "" : "s"}`;
  } else {
    span = `${Math.round(seconds / 86400)} days`;
  }
  const clock = { hour: "2-digit", minute: "2-digit", timeZone: zone };
  const day = new Intl.DateTimeFormat(locale, { dateStyle: "short", timeZone: zone });
  const sameDay = day.format(new Date(now)) === day.format(until);
  const when = new Intl.DateTimeFormat(
    locale,
    sameDay ? clock : { ...clock, weekday: "short", day: "numeric", month: "short" },
  ).format(until);
  return `in ${span} (${when})`;
}
