// Voice client: joins a voice channel over the gateway (op 4), answers the voice worker's
// offer (op 30), sends the microphone on the first m-line and plays each other member from
// the slot the gateway names (`slot` of their voice state). docs/voice.md has the protocol.
//
// The page is server-rendered, so following a link reloads it: the joined channel is kept in
// sessionStorage and rejoined on the next page (a short gap, not a drop).
//
// Camera and screen share: the worker's offer has three more m-lines for what this member
// publishes (`publish`: source → mid), answered sendonly without a track, so turning the camera
// on or sharing the screen is a replaceTrack plus op 4's self_video / self_stream, with no
// renegotiation. What the others publish arrives on slots the worker adds by renegotiating:
// VOICE_OFFER (answered with op 30 and its `version`), whose `streams` (mid → user, source)
// name each tile. ICE candidates are trickled with op 31 after the answer.
//
// A guild hosted on another node works the same way: this node relays op 4 / op 30 to the
// hosting node and the media goes straight to that node's worker. Its speaking events stay
// there, so speaking rings come from the audio levels this browser receives (and sends).
import { api } from "./api.js";
import { gateway } from "./gateway.js";

const OP_VOICE_STATE = 4;
const OP_VOICE_ANSWER = 30;
const OP_VOICE_CANDIDATE = 31;
const STORE = "united.voice";
const prefs = JSON.parse(localStorage.getItem("united.voice.prefs") || "{}");
const savePrefs = () => localStorage.setItem("united.voice.prefs", JSON.stringify(prefs));

// The connection panel's path line: direct to the voice server, or through the TURN relay and
// over which transport (UDP, TCP, TLS), from the selected candidate pair of getStats().
function pathText(report, pairId, relayMissing) {
  const pair = pairId && report.get(pairId);
  if (!pair) return relayMissing ? "Connecting directly: this node has no relay (TURN) server" : "";
  const local = report.get(pair.localCandidateId) || {};
  let text;
  if (local.candidateType === "relay") {
    text = `Relayed through TURN (${(local.relayProtocol || "udp").toUpperCase()})`;
  } else {
    const nat = local.candidateType === "srflx" || local.candidateType === "prflx";
    text = `Direct (${nat ? "through NAT" : "local network"})`;
  }
  return relayMissing ? `${text} · this node has no relay (TURN) server` : text;
}

class Voice {
  constructor(gw, shell) {
    this.gw = gw;
    this.guildId = shell.dataset.guildId;
    this.me = shell.dataset.userId;
    this.states = new Map(); // user id → voice state (this guild)
    this.speaking = new Set();
    this.channelId = null;
    this.pc = null;
    this.mic = null;
    this.audio = new Map(); // slot → <audio>
    this.slots = 0;
    this.publish = {}; // source → mid of the m-line this member sends it on
    this.streams = {}; // mid → {user_id, source} the worker forwards to us
    this.connection = null; // the worker's id of our peer connection
    this.version = 0; // of the offer we answered last
    this.video = false; // may publish (STREAM), and a client of this node's worker
    this.local = { camera: null, screen: null }; // our MediaStreams
    this.tiles = new Map(); // tile key → <figure>
    this.extraAudio = new Map(); // mid → <audio> of a screen share's sound
    this.negotiation = Promise.resolve();
    this.view = prefs.view === "speaker" ? "speaker" : "grid";
    this.stage = document.querySelector("[data-video-stage]");
    this.selfMute = Boolean(prefs.selfMute);
    this.selfDeaf = Boolean(prefs.selfDeaf);
    this.pttHeld = false;
    this.statsTimer = null;
    this.levelTimer = null;
    // The rail marks guilds hosted on another node: voice is moderated there, not here.
    this.remote = Boolean(document.querySelector(`[data-guild-link="${this.guildId}"] [data-remote-guild]`));
    this.panel = document.querySelector("[data-voice-panel]");
  }

  start() {
    this.gw.on((t, d) => this.event(t, d));
    document.addEventListener("click", (event) => this.click(event));
    document.addEventListener("change", (event) => this.change(event));
    document.addEventListener("input", (event) => this.change(event));
    document.body.addEventListener("htmx:afterSwap", () => this.render());
    window.addEventListener("keydown", (event) => this.key(event, true));
    window.addEventListener("keyup", (event) => this.key(event, false));
    this.load();
    this.render();
  }

  async load() {
    if (!this.guildId) return;
    let states;
    try {
      states = await api("GET", `/api/v1/guilds/${this.guildId}/voice-states`);
    } catch {
      return;
    }
    for (const state of states) {
      this.states.set(state.user_id, state);
      if (state.speaking) this.speaking.add(state.user_id);
    }
    this.render();
  }

  // --- gateway ------------------------------------------------------------------------

  event(t, d) {
    if (!d || (d.guild_id && d.guild_id !== this.guildId)) return;
    switch (t) {
      case "READY": {
        const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
        if (saved && saved.guild_id === this.guildId && !this.channelId) this.join(saved.channel_id, true);
        break;
      }
      case "RESYNC":
        if (this.channelId) this.join(this.channelId, true);
        this.load();
        break;
      case "VOICE_STATE_UPDATE":
        if (d.channel_id) {
          this.states.set(d.user_id, d);
          if (d.speaking) this.speaking.add(d.user_id);
        }
        else {
          this.states.delete(d.user_id);
          this.speaking.delete(d.user_id);
          if (d.user_id === this.me && this.channelId) this.teardown(false);
        }
        this.render();
        break;
      case "VOICE_SPEAKING":
        if (d.speaking) this.speaking.add(d.user_id);
        else this.speaking.delete(d.user_id);
        this.render();
        break;
      case "VOICE_SERVER_UPDATE":
        this.connect(d).catch((error) => this.fail(error.message || String(error)));
        break;
      case "VOICE_OFFER":
        this.negotiation = this.negotiation
          .then(() => this.renegotiate(d))
          .catch((error) => this.fail(error.message || String(error)));
        break;
      case "VOICE_RECONNECT":
        this.join(d.channel_id, true);
        break;
      case "VOICE_ERROR":
        this.fail(d.message);
        break;
      default:
        break;
    }
  }

  join(channelId, reconnect = false) {
    this.channelId = channelId;
    sessionStorage.setItem(STORE, JSON.stringify({ guild_id: this.guildId, channel_id: channelId }));
    this.status("Connecting…");
    this.gw.send(OP_VOICE_STATE, {
      guild_id: this.guildId,
      channel_id: channelId,
      self_mute: this.selfMute,
      self_deaf: this.selfDeaf,
      reconnect,
    });
  }

  leave() {
    this.gw.send(OP_VOICE_STATE, { guild_id: this.guildId, channel_id: null });
    this.teardown(true);
  }

  teardown(forget) {
    if (forget) sessionStorage.removeItem(STORE);
    clearInterval(this.statsTimer);
    clearInterval(this.levelTimer);
    if (this.pc) this.pc.close();
    this.pc = null;
    this.audio.forEach((el) => el.remove());
    this.audio.clear();
    if (this.mic) this.mic.getTracks().forEach((track) => track.stop());
    this.mic = null;
    this.stopLocal("camera");
    this.stopLocal("screen");
    this.streams = {};
    this.publish = {};
    this.channelId = null;
    this.render();
  }

  async connect(offer) {
    if (this.pc) this.pc.close();
    this.audio.forEach((el) => el.remove());
    this.audio.clear();
    this.stopLocal("camera");
    this.stopLocal("screen");
    this.channelId = offer.channel_id;
    this.slots = Number(offer.slots) || 0;
    this.publish = offer.publish || {};
    this.streams = offer.streams || {};
    this.connection = offer.connection || null;
    this.version = Number(offer.version) || 0;
    this.video = Boolean(offer.video) && !offer.hosted_by;
    for (const state of offer.voice_states || []) {
      this.states.set(state.user_id, state);
      if (state.speaking) this.speaking.add(state.user_id);
    }
    this.connectedAt = null;
    // "Always relay": only candidates through the node's TURN server, for networks that block
    // direct UDP. A node without one has nothing to relay through: say so and connect directly.
    const iceServers = offer.ice_servers || [];
    const hasTurn = iceServers.some((server) => [].concat(server.urls || []).some((url) => /^turns?:/i.test(url)));
    this.relayMissing = Boolean(prefs.relay) && !hasTurn;
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: prefs.relay && hasTurn ? "relay" : "all" });
    this.pc = pc;
    pc.addEventListener("track", (event) => this.play(event));
    pc.addEventListener("connectionstatechange", () => {
      if (this.pc !== pc) return;
      // Media can flow from here: a tile's wait for its first frame counts from this moment.
      if (pc.connectionState === "connected" && !this.connectedAt) this.connectedAt = performance.now();
      this.status(pc.connectionState === "connected" ? "Voice connected" : `Voice ${pc.connectionState}`);
      if (pc.connectionState === "failed") setTimeout(() => this.pc === pc && this.join(this.channelId, true), 1000);
    });
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    if (!this.mic) {
      this.mic = await navigator.mediaDevices.getUserMedia({
        audio: {
          deviceId: prefs.input ? { ideal: prefs.input } : undefined,
          echoCancellation: true,
          noiseSuppression: true,
          autoGainControl: true,
        },
      });
    }
    const first = pc.getTransceivers()[0];
    await first.sender.replaceTrack(this.mic.getAudioTracks()[0]);
    first.direction = "sendrecv";
    // Our camera, screen and screen sound: sendonly with no track until we turn them on.
    for (const mid of Object.values(this.publish)) {
      const transceiver = this.transceiver(mid);
      if (transceiver) transceiver.direction = "sendonly";
    }
    this.applyMic();
    const trickle = !offer.hosted_by;
    const pending = [];
    let answered = false;
    if (trickle) {
      pc.addEventListener("icecandidate", (event) => {
        if (this.pc !== pc) return;
        // The worker speaks UDP only; null (or an empty candidate) ends the list.
        const line = event.candidate ? event.candidate.candidate : null;
        if (line && !/ udp /i.test(line)) return;
        if (answered) this.gw.send(OP_VOICE_CANDIDATE, { guild_id: this.guildId, candidate: line || null });
        else pending.push(line || null);
      });
    }
    await pc.setLocalDescription(await pc.createAnswer());
    if (!trickle) {
      // A guild hosted elsewhere: its node takes the complete answer; wait for gathering (bounded).
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        const done = () => pc.iceGatheringState === "complete" && resolve();
        pc.addEventListener("icegatheringstatechange", done);
        setTimeout(resolve, 3000);
      });
    }
    this.gw.send(OP_VOICE_ANSWER, { guild_id: this.guildId, sdp: pc.localDescription.sdp });
    answered = true;
    for (const line of pending) this.gw.send(OP_VOICE_CANDIDATE, { guild_id: this.guildId, candidate: line });
    clearInterval(this.statsTimer);
    this.statsTimer = setInterval(() => this.stats(), 2000);
    clearInterval(this.levelTimer);
    if (offer.hosted_by) this.levelTimer = setInterval(() => this.levels(), 250);
    this.render();
  }

  // Speaking rings for a guild hosted elsewhere: received levels per slot, our own mic's level.
  async levels() {
    const pc = this.pc;
    if (!pc) return;
    const bySlot = new Map();
    this.states.forEach((state) => state.channel_id === this.channelId && bySlot.set(state.slot, state.user_id));
    const now = performance.now();
    const speaking = new Set();
    for (const transceiver of pc.getTransceivers()) {
      const slot = Number(transceiver.mid) - 1;
      const userId = bySlot.get(slot);
      if (slot < 0 || slot >= this.slots || !userId) continue;
      const loud = transceiver.receiver
        .getSynchronizationSources()
        .some((source) => now - source.timestamp < 500 && (source.audioLevel || 0) > 0.01);
      if (loud) speaking.add(userId);
    }
    const sender = pc.getTransceivers()[0] && pc.getTransceivers()[0].sender;
    if (sender && !this.selfMute) {
      (await sender.getStats()).forEach((s) => {
        if (s.type === "media-source" && (s.audioLevel || 0) > 0.01) speaking.add(this.me);
      });
    }
    const changed = speaking.size !== this.speaking.size || [...speaking].some((id) => !this.speaking.has(id));
    this.speaking = speaking;
    if (changed) this.render();
  }

  play(event) {
    const slot = Number(event.transceiver.mid) - 1;
    if (slot < 0) return;
    if (slot >= this.slots) {
      this.renderVideo(); // a camera, screen or screen sound slot (streams names it)
      return;
    }
    const el = document.createElement("audio");
    el.autoplay = true;
    el.dataset.voiceSlot = String(slot);
    el.srcObject = new MediaStream([event.track]);
    if (prefs.output && el.setSinkId) el.setSinkId(prefs.output).catch(() => {});
    document.body.append(el);
    this.audio.set(slot, el);
    this.applyVolumes();
  }

  applyMic() {
    const track = this.mic && this.mic.getAudioTracks()[0];
    if (track) track.enabled = !this.selfMute && (!prefs.ptt || this.pttHeld);
  }

  applyVolumes() {
    const bySlot = new Map();
    this.states.forEach((state) => state.channel_id === this.channelId && bySlot.set(state.slot, state.user_id));
    this.audio.forEach((el, slot) => {
      const userId = bySlot.get(slot);
      const volume = userId && prefs.volume && prefs.volume[userId] !== undefined ? prefs.volume[userId] : 100;
      el.volume = Math.max(0, Math.min(1, volume / 100));
      el.muted = this.selfDeaf;
    });
    this.extraAudio.forEach((el, mid) => {
      const userId = this.streams[mid] && this.streams[mid].user_id;
      const volume = userId && prefs.volume && prefs.volume[userId] !== undefined ? prefs.volume[userId] : 100;
      el.volume = Math.max(0, Math.min(1, volume / 100));
      el.muted = this.selfDeaf;
    });
  }

  toggleSelf(kind) {
    if (kind === "mute") this.selfMute = !this.selfMute;
    else {
      this.selfDeaf = !this.selfDeaf;
      if (this.selfDeaf) this.selfMute = true;
    }
    prefs.selfMute = this.selfMute;
    prefs.selfDeaf = this.selfDeaf;
    savePrefs();
    this.applyMic();
    this.applyVolumes();
    this.sendFlags();
    this.render();
  }

  sendFlags() {
    if (!this.channelId) return;
    this.gw.send(OP_VOICE_STATE, {
      guild_id: this.guildId,
      channel_id: this.channelId,
      self_mute: this.selfMute,
      self_deaf: this.selfDeaf,
      self_video: Boolean(this.local.camera),
      self_stream: Boolean(this.local.screen),
    });
  }

  // --- video ----------------------------------------------------------------------------

  transceiver(mid) {
    return this.pc && this.pc.getTransceivers().find((t) => t.mid === String(mid));
  }

  // The worker's renegotiation: someone's camera or screen started or stopped.
  async renegotiate(d) {
    const pc = this.pc;
    if (!pc || d.connection !== this.connection || Number(d.version) <= this.version) return;
    await pc.setRemoteDescription({ type: "offer", sdp: d.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.version = Number(d.version);
    this.streams = d.streams || {};
    this.gw.send(OP_VOICE_ANSWER, { guild_id: this.guildId, sdp: pc.localDescription.sdp, version: this.version });
    this.renderVideo();
  }

  async toggleCamera() {
    if (!this.pc || !this.video) return;
    if (this.local.camera) {
      this.stopLocal("camera");
    } else {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } },
      });
      const transceiver = this.transceiver(this.publish.camera);
      if (!transceiver) {
        stream.getTracks().forEach((track) => track.stop());
        return;
      }
      this.local.camera = stream;
      await transceiver.sender.replaceTrack(stream.getVideoTracks()[0]);
    }
    this.sendFlags();
    this.render();
  }

  async toggleScreen() {
    if (!this.pc || !this.video) return;
    if (this.local.screen) {
      this.stopLocal("screen");
    } else {
      // Its sound too where the browser offers it (a tab, or the whole screen on some systems).
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: true });
      const video = this.transceiver(this.publish.screen);
      if (!video) {
        stream.getTracks().forEach((track) => track.stop());
        return;
      }
      this.local.screen = stream;
      await video.sender.replaceTrack(stream.getVideoTracks()[0]);
      const sound = stream.getAudioTracks()[0];
      const audio = this.transceiver(this.publish.screen_audio);
      if (sound && audio) await audio.sender.replaceTrack(sound);
      // Stopped from the browser's own "Stop sharing" bar.
      stream.getVideoTracks()[0].addEventListener("ended", () => {
        if (this.local.screen === stream) {
          this.stopLocal("screen");
          this.sendFlags();
          this.render();
        }
      });
    }
    this.sendFlags();
    this.render();
  }

  stopLocal(source) {
    const stream = this.local[source];
    if (!stream) return;
    stream.getTracks().forEach((track) => track.stop());
    this.local[source] = null;
    const mids = source === "camera" ? [this.publish.camera] : [this.publish.screen, this.publish.screen_audio];
    for (const mid of mids) {
      const transceiver = mid !== undefined && this.transceiver(mid);
      if (transceiver) transceiver.sender.replaceTrack(null).catch(() => {});
    }
  }

  nameOf(userId) {
    if (userId === this.me) return "You";
    const state = this.states.get(userId);
    return (state && (state.display_name || state.username)) || "Someone";
  }

  // Tiles: ours (a local preview) and one per forwarded camera or screen; a screen share takes
  // the stage, the speaker view puts whoever speaks there, the grid shows all alike.
  renderVideo() {
    const wanted = [];
    if (this.local.camera) wanted.push({ key: "local-camera", userId: this.me, source: "camera", stream: this.local.camera });
    if (this.local.screen) wanted.push({ key: "local-screen", userId: this.me, source: "screen", stream: this.local.screen });
    const sounds = new Map();
    for (const [mid, info] of Object.entries(this.streams)) {
      const transceiver = this.transceiver(mid);
      if (!transceiver) continue;
      const track = transceiver.receiver.track;
      if (info.source === "screen_audio") sounds.set(mid, track);
      else wanted.push({ key: `mid-${mid}-${info.user_id}-${info.source}`, userId: info.user_id, source: info.source, stream: new MediaStream([track]) });
    }
    // Screen sound plays like a member's voice (their volume, muted when deafened).
    this.extraAudio.forEach((el, mid) => {
      if (!sounds.has(mid)) {
        el.remove();
        this.extraAudio.delete(mid);
      }
    });
    sounds.forEach((track, mid) => {
      if (this.extraAudio.has(mid)) return;
      const el = document.createElement("audio");
      el.autoplay = true;
      el.dataset.voiceScreenAudio = mid;
      el.srcObject = new MediaStream([track]);
      document.body.append(el);
      this.extraAudio.set(mid, el);
    });
    const keys = new Set(wanted.map((w) => w.key));
    this.tiles.forEach((tile, key) => {
      if (!keys.has(key)) {
        tile.remove();
        this.tiles.delete(key);
      }
    });
    for (const item of wanted) {
      let tile = this.tiles.get(item.key);
      if (!tile) {
        tile = document.createElement("figure");
        tile.className = "video-tile";
        tile.dataset.videoTile = item.key;
        const video = document.createElement("video");
        video.autoplay = true;
        video.playsInline = true;
        video.muted = true; // sound comes on its own slot
        video.srcObject = item.stream;
        const caption = document.createElement("figcaption");
        tile.append(video, caption);
        // "Waiting for video" until a frame renders (a keyframe is on its way from the sender).
        tile.classList.add("waiting");
        tile.subscribedAt = performance.now();
        const first = () => {
          if (tile.firstFrameAt === undefined) tile.firstFrameAt = performance.now();
          tile.classList.remove("waiting");
        };
        // loadeddata: the first frame is decoded (a frame callback waits for the tile to be
        // painted, which a tile scrolled out of the stage never is).
        video.addEventListener("loadeddata", first, { once: true });
        if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(first);
        this.tiles.set(item.key, tile);
      }
      tile.dataset.userId = item.userId;
      tile.dataset.source = item.source;
      const label = `${this.nameOf(item.userId)}${item.source === "screen" ? " (screen)" : ""}`;
      tile.querySelector("figcaption").textContent = label;
      tile.querySelector("video").setAttribute("aria-label", label);
      tile.classList.toggle("speaking", item.source === "camera" && this.speaking.has(item.userId));
    }
    if (!this.stage) return;
    const main = this.stage.querySelector("[data-video-main]");
    const grid = this.stage.querySelector("[data-video-grid]");
    const screen = wanted.find((w) => w.source === "screen" && w.userId !== this.me) || wanted.find((w) => w.source === "screen");
    let featured = screen;
    if (!featured && this.view === "speaker") {
      featured = wanted.find((w) => w.userId !== this.me && this.speaking.has(w.userId)) || wanted.find((w) => w.userId !== this.me) || wanted[0];
    }
    const mainTile = featured && this.tiles.get(featured.key);
    if (mainTile && mainTile.parentElement !== main) main.replaceChildren(mainTile);
    if (!mainTile) main.replaceChildren();
    for (const item of wanted) {
      const tile = this.tiles.get(item.key);
      if (tile !== mainTile && tile.parentElement !== grid) grid.append(tile);
    }
    // Moving a <video> between the stage and the grid pauses it: play it again.
    this.tiles.forEach((tile) => {
      const video = tile.querySelector("video");
      if (video.paused) video.play().catch(() => {});
    });
    this.stage.classList.toggle("staged", Boolean(mainTile));
    this.stage.hidden = wanted.length === 0;
    this.stage.querySelectorAll("[data-video-view]").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.videoView === this.view));
    });
  }

  key(event, down) {
    if (!prefs.ptt || !this.channelId) return;
    if (event.code !== (prefs.pttKey || "Space")) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    event.preventDefault();
    this.pttHeld = down;
    this.applyMic();
  }

  async moderate(userId, body) {
    try {
      await api("PATCH", `/api/v1/guilds/${this.guildId}/voice-states/${userId}`, body);
    } catch (error) {
      this.fail(error.message);
    }
  }

  // --- DOM ----------------------------------------------------------------------------

  click(event) {
    const join = event.target.closest("[data-voice-join]");
    if (join) {
      event.preventDefault();
      this.join(join.dataset.voiceJoin);
      return;
    }
    if (event.target.closest("[data-voice-camera]")) {
      this.toggleCamera().catch((error) => this.fail(`Camera: ${error.message || error}`));
      return;
    }
    if (event.target.closest("[data-voice-screen]")) {
      this.toggleScreen().catch((error) => this.fail(`Screen share: ${error.message || error}`));
      return;
    }
    const view = event.target.closest("[data-video-view]");
    if (view) {
      this.view = view.dataset.videoView === "speaker" ? "speaker" : "grid";
      prefs.view = this.view;
      savePrefs();
      this.renderVideo();
      return;
    }
    if (event.target.closest("[data-voice-leave]")) this.leave();
    else if (event.target.closest("[data-voice-mute]")) this.toggleSelf("mute");
    else if (event.target.closest("[data-voice-deaf]")) this.toggleSelf("deaf");
    else if (event.target.closest("[data-voice-settings]")) {
      const box = this.panel && this.panel.querySelector("[data-voice-settings-box]");
      if (box) {
        box.hidden = !box.hidden;
        if (!box.hidden) this.devices();
      }
    } else {
      const action = event.target.closest("[data-voice-mod]");
      if (action) {
        const state = this.states.get(action.dataset.userId) || {};
        const kind = action.dataset.voiceMod;
        if (kind === "mute") this.moderate(action.dataset.userId, { mute: !state.mute });
        else if (kind === "deaf") this.moderate(action.dataset.userId, { deaf: !state.deaf });
        else if (kind === "disconnect") this.moderate(action.dataset.userId, { channel_id: null });
        else if (kind === "move") {
          const target = window.prompt("Move to which voice channel? (name)");
          const link = target && document.querySelector(`[data-voice-join][data-channel-name="${CSS.escape(target)}"]`);
          if (link) this.moderate(action.dataset.userId, { channel_id: link.dataset.voiceJoin });
        }
      }
    }
  }

  change(event) {
    const el = event.target;
    if (el.matches("[data-voice-volume]")) {
      prefs.volume = prefs.volume || {};
      prefs.volume[el.dataset.voiceVolume] = Number(el.value);
      savePrefs();
      this.applyVolumes();
    } else if (el.matches("[data-voice-input]") && event.type === "change") {
      prefs.input = el.value;
      savePrefs();
      this.switchInput();
    } else if (el.matches("[data-voice-output]") && event.type === "change") {
      prefs.output = el.value;
      savePrefs();
      this.audio.forEach((audio) => audio.setSinkId && audio.setSinkId(el.value).catch(() => {}));
    } else if (el.matches("[data-voice-ptt]") && event.type === "change") {
      prefs.ptt = el.checked;
      savePrefs();
      this.applyMic();
    } else if (el.matches("[data-voice-ptt-key]") && event.type === "change") {
      prefs.pttKey = el.value || "Space";
      savePrefs();
    } else if (el.matches("[data-voice-relay]") && event.type === "change") {
      prefs.relay = el.checked;
      savePrefs();
      // The ICE policy is fixed for a connection's life: connect again with the new one.
      if (this.channelId) this.join(this.channelId, true);
    }
  }

  async switchInput() {
    if (!this.pc || !this.mic) return;
    const fresh = await navigator.mediaDevices.getUserMedia({
      audio: { deviceId: { exact: prefs.input }, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.mic.getTracks().forEach((track) => track.stop());
    this.mic = fresh;
    await this.pc.getTransceivers()[0].sender.replaceTrack(fresh.getAudioTracks()[0]);
    this.applyMic();
  }

  async devices() {
    if (!this.panel || !navigator.mediaDevices) return;
    const list = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, chosen) => {
      if (!select) return;
      select.replaceChildren(
        ...list
          .filter((d) => d.kind === kind)
          .map((d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId, false, d.deviceId === chosen)),
      );
    };
    fill(this.panel.querySelector("[data-voice-input]"), "audioinput", prefs.input);
    fill(this.panel.querySelector("[data-voice-output]"), "audiooutput", prefs.output);
    const ptt = this.panel.querySelector("[data-voice-ptt]");
    if (ptt) ptt.checked = Boolean(prefs.ptt);
    const key = this.panel.querySelector("[data-voice-ptt-key]");
    if (key) key.value = prefs.pttKey || "Space";
    const relay = this.panel.querySelector("[data-voice-relay]");
    if (relay) relay.checked = Boolean(prefs.relay);
  }

  async stats() {
    if (!this.pc || !this.panel) return;
    const report = await this.pc.getStats();
    let rtt = null;
    let lost = 0;
    let received = 0;
    let jitter = null;
    let codec = null;
    let pairId = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime;
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
        if (s.jitter !== undefined) jitter = Math.max(jitter || 0, s.jitter);
      }
      if (s.type === "codec" && s.mimeType && s.mimeType.startsWith("audio/")) codec = s.mimeType.slice(6);
    });
    const box = this.panel.querySelector("[data-voice-stats]");
    if (!box) return;
    const loss = received + lost ? ((100 * lost) / (received + lost)).toFixed(1) : "0.0";
    box.textContent =
      `Latency ${rtt === null ? "–" : Math.round(rtt * 1000) + " ms"} · ` +
      `Loss ${loss} % · Jitter ${jitter === null ? "–" : Math.round(jitter * 1000) + " ms"} · ${codec || "opus"}`;
    const path = this.panel.querySelector("[data-voice-path]");
    const text = pathText(report, pairId, this.relayMissing);
    if (path && path.textContent !== text) path.textContent = text;
  }

  status(text) {
    const el = this.panel && this.panel.querySelector("[data-voice-status]");
    if (el) el.textContent = text;
  }

  fail(message) {
    this.status(message);
    const el = this.panel && this.panel.querySelector("[data-voice-error]");
    if (el) {
      el.textContent = message;
      el.hidden = false;
      setTimeout(() => (el.hidden = true), 6000);
    }
  }

  render() {
    document.querySelectorAll("[data-voice-roster]").forEach((list) => {
      const channelId = list.dataset.voiceRoster;
      const here = Array.from(this.states.values()).filter((s) => s.channel_id === channelId);
      list.replaceChildren(...here.map((s) => this.rosterItem(s)));
    });
    document.querySelectorAll("[data-voice-join]").forEach((el) => {
      el.classList.toggle("active", el.dataset.voiceJoin === this.channelId);
    });
    const mute = document.querySelector("[data-voice-mute]");
    if (mute) mute.setAttribute("aria-pressed", String(this.selfMute));
    const deaf = document.querySelector("[data-voice-deaf]");
    if (deaf) deaf.setAttribute("aria-pressed", String(this.selfDeaf));
    if (this.panel) {
      this.panel.hidden = !this.channelId;
      const name = this.panel.querySelector("[data-voice-channel-name]");
      const link = this.channelId && document.querySelector(`[data-voice-join="${this.channelId}"]`);
      if (name) name.textContent = link ? link.dataset.channelName : "";
      const controls = this.panel.querySelector("[data-voice-video-controls]");
      if (controls) controls.hidden = !(this.channelId && this.pc && this.video);
      const camera = this.panel.querySelector("[data-voice-camera]");
      if (camera) camera.setAttribute("aria-pressed", String(Boolean(this.local.camera)));
      const screen = this.panel.querySelector("[data-voice-screen]");
      if (screen) screen.setAttribute("aria-pressed", String(Boolean(this.local.screen)));
    }
    this.renderVideo();
    this.applyVolumes();
  }

  rosterItem(state) {
    const li = document.createElement("li");
    li.className = "voice-user";
    li.dataset.voiceUser = state.user_id;
    li.classList.toggle("speaking", this.speaking.has(state.user_id));
    const ring = document.createElement("span");
    ring.className = "avatar xs voice-ring";
    ring.textContent = (state.display_name || state.username || "?").slice(0, 2).toUpperCase();
    const name = document.createElement("span");
    name.className = "voice-name";
    name.textContent = state.display_name || state.username;
    li.append(ring, name);
    const flags = [];
    if (state.mute) flags.push("server muted");
    else if (state.self_mute) flags.push("muted");
    if (state.deaf) flags.push("server deafened");
    else if (state.self_deaf) flags.push("deafened");
    if (state.suppress) flags.push("cannot speak");
    if (state.self_video) flags.push("camera on");
    if (state.self_stream) flags.push("sharing screen");
    if (flags.length) {
      const tag = document.createElement("span");
      tag.className = "voice-flags";
      tag.textContent = flags.join(", ");
      li.append(tag);
    }
    li.setAttribute("aria-label", `${name.textContent}${this.speaking.has(state.user_id) ? ", speaking" : ""}${flags.length ? ", " + flags.join(", ") : ""}`);
    if (state.user_id !== this.me && this.channelId === state.channel_id) {
      const volume = document.createElement("input");
      volume.type = "range";
      volume.min = "0";
      volume.max = "100";
      volume.value = String(prefs.volume && prefs.volume[state.user_id] !== undefined ? prefs.volume[state.user_id] : 100);
      volume.dataset.voiceVolume = state.user_id;
      volume.setAttribute("aria-label", `Volume of ${name.textContent}`);
      li.append(volume);
    }
    if (state.user_id !== this.me && !this.remote) {
      const menu = document.createElement("details");
      menu.className = "voice-mod";
      const summary = document.createElement("summary");
      summary.textContent = "⋯";
      summary.setAttribute("aria-label", `Moderate ${name.textContent}`);
      menu.append(summary);
      for (const [kind, label] of [
        ["mute", state.mute ? "Server unmute" : "Server mute"],
        ["deaf", state.deaf ? "Server undeafen" : "Server deafen"],
        ["move", "Move to…"],
        ["disconnect", "Disconnect"],
      ]) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.voiceMod = kind;
        button.dataset.userId = state.user_id;
        button.textContent = label;
        menu.append(button);
      }
      li.append(menu);
    }
    return li;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const shell = document.querySelector("[data-shell]");
  if (!shell || !shell.dataset.guildId || !window.RTCPeerConnection) return;
  const voice = new Voice(gateway(), shell);
  voice.start();
  window.unitedVoice = voice;
});
