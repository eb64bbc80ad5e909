// Built-in :shortcode: table for the composer and the reaction picker.
export const SHORTCODES = {
  smile: "😄", grin: "😁", joy: "😂", rofl: "🤣", wink: "😉", blush: "😊", heart_eyes: "😍",
  thinking: "🤔", neutral_face: "😐", sweat_smile: "😅", sob: "😭", cry: "😢", angry: "😠",
  scream: "😱", sunglasses: "😎", upside_down: "🙃", eyes: "👀", thumbsup: "👍", "+1": "👍",
  thumbsdown: "👎", "-1": "👎", clap: "👏", wave: "👋", pray: "🙏", muscle: "💪", ok_hand: "👌",
  raised_hands: "🙌", point_up: "☝️", heart: "❤️", broken_heart: "💔", fire: "🔥", sparkles: "✨",
  star: "⭐", tada: "🎉", rocket: "🚀", "100": "💯", check: "✅", x: "❌", warning: "⚠️",
  question: "❓", coffee: "☕", pizza: "🍕", beer: "🍺", cake: "🎂", sun: "☀️", moon: "🌙",
  rainbow: "🌈", dog: "🐶", cat: "🐱", skull: "💀", poop: "💩", zzz: "💤", bulb: "💡",
};

export const PICKER = ["👍", "❤️", "😂", "😮", "😢", "🎉", "🔥", "👀", "✅", "🙏", "💯", "🚀"];

const PATTERN = /:([a-z0-9_+-]{1,32}):/g;

export function replaceShortcodes(text) {
  return text.replace(PATTERN, (whole, name) => SHORTCODES[name] || whole);
}
