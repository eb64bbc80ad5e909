// Gateway events → the page: messages of the open channel are fetched as server-rendered
// fragments; everything else (unread marks, channel list, members, presence) refreshes the
// sidebar fragments through HTMX, debounced so a burst of events costs one request each.
import htmx from "./htmx-global.js";
import { fragmentNodes, getText } from "./http.js";

function debounced(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

const trigger = (name) => () => htmx.trigger(document.body, name);

export function wire(gw, shell, pane, threadPane = null) {
  const channelId = shell.dataset.channelId;
  const threadId = threadPane ? threadPane.root.dataset.channelId : null;
  // The channel's message that started a thread shows its replies and unread mark: redraw it
  // when the thread changes. Threads not started from a message on screen need nothing here.
  const refreshStarter = (thread) => {
    if (!pane || !thread) return;
    const link = pane.list.querySelector(`[data-thread-link="${CSS.escape(thread)}"]`);
    const message = link && link.closest("[data-message]");
    if (message) pane.refresh(message.dataset.messageId);
  };
  // Following changed elsewhere (a reply from this tab, another tab's button): the panel's
  // button says what the next press does.
  const drawFollow = (following) => {
    const button = threadPane && threadPane.root.querySelector("[data-follow-thread]");
    if (!button) return;
    button.textContent = following ? "Unfollow" : "Follow";
    button.setAttribute("hx-vals", JSON.stringify({ following: following ? "0" : "1" }));
    button.title = following ? "Stop marking this thread unread when someone replies" : "Mark this thread unread when someone replies";
    button.toggleAttribute("data-following", following);
  };
  const refreshThreadList = debounced(() => {
    const dialog = document.getElementById("threads-dialog");
    if (dialog && dialog.open) htmx.trigger(document.body, "refresh-threads");
  }, 300);
  const guildId = shell.dataset.guildId;
  const me = shell.dataset.userId;
  const refreshChannels = debounced(trigger("refresh-channels"), 300);
  const refreshRail = debounced(trigger("refresh-rail"), 300);
  const refreshMembers = debounced(trigger("refresh-members"), 400);
  // "alice is typing…" under a composer: one for the channel, one for an open thread.
  const typingIn = (box) => {
    const typers = new Map();
    const draw = () => {
      if (!box) return;
      const names = Array.from(typers.keys()).map((id) => {
        const member = document.querySelector(`[data-member][data-user-id="${id}"]`);
        return member ? member.dataset.name : "Someone";
      });
      box.textContent = !names.length
        ? ""
        : names.length === 1
          ? `${names[0]} is typing…`
          : names.length < 4
            ? `${names.join(", ")} are typing…`
            : "Several people are typing…";
      box.classList.toggle("active", names.length > 0);
    };
    const stop = (userId) => {
      clearTimeout(typers.get(userId));
      typers.delete(userId);
      draw();
    };
    const start = (userId) => {
      clearTimeout(typers.get(userId));
      typers.set(userId, setTimeout(() => stop(userId), 10000));
      draw();
    };
    return { start, stop };
  };
  const typing = typingIn(pane ? pane.root.querySelector("[data-typing]") : document.querySelector("[data-typing]"));
  const threadTyping = typingIn(threadPane ? threadPane.root.querySelector("[data-typing]") : null);

  const resync = async () => {
    refreshChannels();
    refreshRail();
    refreshMembers();
    if (!pane) return;
    // Events missed while no session existed: redraw the pane from the server.
    const html = await getText(window.location.href);
    const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-messages]");
    if (fresh) {
      pane.list.replaceChildren(...fragmentNodes(fresh.innerHTML));
      htmx.process(pane.list);
      pane.scrollToBottom();
    }
    const freshThread = threadPane && new DOMParser().parseFromString(html, "text/html").querySelector("[data-thread-pane] [data-messages]");
    if (freshThread) {
      threadPane.list.replaceChildren(...fragmentNodes(freshThread.innerHTML));
      htmx.process(threadPane.list);
      threadPane.scrollToBottom();
    }
  };

  // Who a message's run belongs to (the pane's data-author-id): a webhook posts under many
  // names, and each name starts a run of its own.
  const runOf = (d) => (!d.author ? "" : d.webhook_id ? `${d.author.id}:${d.author.username}` : d.author.id);

  gw.on((t, d) => {
    const here = pane && d && d.channel_id === channelId;
    const inThread = threadPane && d && d.channel_id === threadId;
    switch (t) {
      case "MESSAGE_CREATE":
        if (here) {
          if (d.author) typing.stop(d.author.id);
          pane.add(d.id, runOf(d), d.timestamp, d.nonce);
        } else {
          if (inThread) {
            if (d.author) threadTyping.stop(d.author.id);
            threadPane.add(d.id, runOf(d), d.timestamp, d.nonce);
          }
          refreshStarter(d.channel_id);
          refreshThreadList();
          refreshChannels();
          refreshRail();
        }
        break;
      case "MESSAGE_UPDATE":
      case "MESSAGE_REACTION_ADD":
      case "MESSAGE_REACTION_REMOVE":
        if (here) pane.refresh(d.message_id || d.id);
        if (inThread) threadPane.refresh(d.message_id || d.id);
        break;
      case "MESSAGE_DELETE":
        if (here) pane.remove(d.id);
        if (inThread) threadPane.remove(d.id);
        refreshStarter(d.channel_id);
        refreshThreadList();
        refreshChannels();
        break;
      case "MESSAGE_ACK":
        refreshStarter(d.channel_id);
        refreshThreadList();
        refreshChannels();
        refreshRail();
        break;
      case "THREAD_CREATE":
        refreshThreadList();
        break;
      case "THREAD_MEMBER_UPDATE":
        if (d.id === threadId) drawFollow(d.following);
        refreshStarter(d.id);
        refreshThreadList();
        refreshChannels();
        refreshRail();
        break;
      case "TYPING_START":
        if (here && d.user_id !== me) typing.start(d.user_id);
        if (inThread && d.user_id !== me) threadTyping.start(d.user_id);
        break;
      case "PRESENCE_UPDATE":
        if (d.user && d.user.id === me) {
          document.querySelectorAll("[data-my-status-dot]").forEach((dot) => {
            dot.dataset.status = d.status === "offline" ? "invisible" : d.status;
          });
        }
        if (!d.guild_id || d.guild_id === guildId) refreshMembers();
        break;
      case "GUILD_MEMBER_ADD":
      case "GUILD_MEMBER_REMOVE":
      case "GUILD_MEMBER_UPDATE":
        if (d.guild_id === guildId) refreshMembers();
        // My roles changed: the channels I may see may have too.
        if (t === "GUILD_MEMBER_UPDATE" && d.guild_id === guildId && d.user && d.user.id === me) refreshChannels();
        break;
      case "GUILD_ROLE_CREATE":
      case "GUILD_ROLE_UPDATE":
      case "GUILD_ROLE_DELETE":
        if (d.guild_id === guildId) refreshChannels();
        break;
      case "CHANNEL_CREATE":
      case "CHANNEL_UPDATE":
        if (d.guild_id === guildId) refreshChannels();
        break;
      case "CHANNEL_DELETE":
        if (d.id === channelId) window.location.assign(`/app/guilds/${guildId}/`);
        else if (d.id === threadId) window.location.assign(`/app/guilds/${guildId}/channels/${channelId}/`);
        else refreshChannels();
        break;
      case "GUILD_CREATE":
      case "GUILD_UPDATE":
      case "GUILD_DELETE":
        refreshRail();
        // The guild's own address says why (a ban notice), or sends a kicked member home.
        if (t === "GUILD_DELETE" && d.id === guildId) window.location.assign(`/app/guilds/${guildId}/`);
        break;
      case "REPORT_CASE_UPDATE":
        // The count of open reports beside Moderation (only moderators hear this).
        if (d.guild_id === guildId) refreshChannels();
        break;
      case "RESYNC":
        resync();
        break;
      default:
        break;
    }
  });
}
