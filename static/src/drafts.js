// What is in a channel's composer, kept in localStorage so it survives leaving the channel and
// reloading the page. The key names the account as well as the channel: someone else signing
// in on the same browser never sees it. Storage may be refused (private windows, a full
// quota); the composer then simply works without drafts.
const PREFIX = "united:draft";

export class Draft {
  constructor(userId, channelId) {
    this.key = userId && channelId ? `${PREFIX}:${userId}:${channelId}` : null;
  }

  load() {
    if (!this.key) return "";
    try {
      return window.localStorage.getItem(this.key) || "";
    } catch (error) {
      return "";
    }
  }

  save(text) {
    if (!this.key) return;
    try {
      if (text.trim()) window.localStorage.setItem(this.key, text);
      else window.localStorage.removeItem(this.key);
    } catch (error) {
      // Not kept; the text is still in the composer.
    }
  }
}
