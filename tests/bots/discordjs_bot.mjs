// An unmodified discord.js 14 bot pointed at a UNITED node (tests/bots/test_discordjs.py).
//
// Only its REST base changes: `rest: { api: NODE + '/api' }` (discord.js appends /v10), and
// the gateway URL comes from the node's GET /gateway/bot like it would from Discord's. The
// bot behaves as a small real bot does: it answers "hello bot" with a reply and a reaction,
// edits and deletes that reply, fetches the guild's members, roles and channels, and sends a
// burst of messages, each when a member asks for it in the channel. Everything it hears and
// does is printed on stdout as one JSON object per line, for the test to read; discord.js's
// debug log goes to stderr. Closing stdin logs it out.
//
// Environment: UNITED_NODE (http://127.0.0.1:port), UNITED_BOT_TOKEN, and UNITED_INTENTS
// ("content" for MessageContent, "blind" without it).

import process from 'node:process';
import discord from 'discord.js';

const { ActionRowBuilder, ButtonBuilder, ButtonStyle, Client, Events, GatewayIntentBits } = discord;

const node = process.env.UNITED_NODE;
const token = process.env.UNITED_BOT_TOKEN;
const intents = [
  GatewayIntentBits.Guilds,
  GatewayIntentBits.GuildMembers,
  GatewayIntentBits.GuildMessages,
  GatewayIntentBits.GuildMessageReactions,
];
if (process.env.UNITED_INTENTS !== 'blind') intents.push(GatewayIntentBits.MessageContent);

const client = new Client({ intents, rest: { api: `${node}/api` } });

function say(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function fail(where, error) {
  say('error', { where, message: String(error?.message ?? error), code: error?.code ?? null });
  process.exitCode = 1;
}

function guildSummary(guild) {
  return {
    id: guild.id,
    name: guild.name,
    available: guild.available,
    memberCount: guild.memberCount,
    features: guild.features,
    channels: guild.channels.cache.map(c => ({ id: c.id, name: c.name, type: c.type })),
    roles: guild.roles.cache.map(r => ({
      id: r.id,
      name: r.name,
      managed: r.managed,
      botId: r.tags?.botId ?? null,
      permissions: r.permissions.bitfield.toString(),
    })),
    members: guild.members.cache.map(m => ({ id: m.id, username: m.user.username, bot: m.user.bot, roles: m.roles.cache.map(r => r.name) })),
    botRole: guild.roles.botRoleFor(client.user)?.name ?? null,
  };
}

let lastReply = null;

async function onCommand(message) {
  if (message.content === 'hello bot') {
    lastReply = await message.reply(`hi ${message.author.username}`);
    say('replied', {
      id: lastReply.id,
      content: lastReply.content,
      reference: lastReply.reference?.messageId ?? null,
      author: lastReply.author.id,
    });
    const reaction = await message.react('👍');
    say('reacted', { messageId: message.id, emoji: reaction.emoji.name, me: reaction.me });
  } else if (message.content === '!edit' && lastReply) {
    const edited = await lastReply.edit(`${lastReply.content} (edited)`);
    say('edited', { id: edited.id, content: edited.content, editedAt: edited.editedTimestamp });
  } else if (message.content === '!delete' && lastReply) {
    await lastReply.delete();
    say('deleted', { id: lastReply.id });
  } else if (message.content === '!fetch') {
    const { guild, channel } = message;
    await channel.sendTyping();
    // Over the gateway (REQUEST_GUILD_MEMBERS, op 8) and over REST.
    const chunked = await guild.members.fetch();
    const listed = await guild.members.list({ limit: 100 });
    const roles = await guild.roles.fetch();
    const channels = await guild.channels.fetch();
    const me = await guild.members.fetchMe();
    const application = await client.application.fetch();
    const guilds = await client.guilds.fetch();
    const history = await channel.messages.fetch({ limit: 5 });
    const author = await client.users.fetch(message.author.id, { force: true });
    say('fetched', {
      chunked: chunked.map(m => m.user.username).sort(),
      listed: listed.map(m => m.user.username).sort(),
      roles: roles.map(r => r.name).sort(),
      channels: channels.map(c => c.name).sort(),
      me: { id: me.id, roles: me.roles.cache.map(r => r.name).sort() },
      canSend: channel.permissionsFor(me).has('SendMessages'),
      owner: application.owner?.username ?? null,
      guilds: guilds.map(g => ({ name: g.name, owner: g.owner, canSend: g.permissions.has('SendMessages') })),
      history: history.map(m => m.content),
      author: author.username,
    });
  } else if (message.content === '!register') {
    // A guild slash command, as discord.js's guide registers one.
    const command = await message.guild.commands.create({
      name: 'echo',
      description: 'Says your words back',
      options: [{ type: 3, name: 'words', description: 'What to say', required: true }],
    });
    say('registered', { id: command.id, name: command.name, options: command.options.map(o => o.name) });
  } else if (message.content === '!burst') {
    const sent = await Promise.all(
      Array.from({ length: 7 }, (_, i) => message.channel.send(`burst ${i + 1}`)),
    );
    say('burst', { ids: sent.map(m => m.id) });
  }
}

client.on(Events.Debug, line => process.stderr.write(`${line}\n`));
client.on(Events.Raw, packet => say('dispatch', { t: packet.t, s: packet.s }));
client.rest.on('rateLimited', info =>
  say('rateLimited', { route: info.route, timeToReset: info.timeToReset, global: info.global }),
);
client.on(Events.ShardError, error => fail('shard', error));
client.on(Events.ShardDisconnect, (event, shardId) => {
  say('disconnect', { code: event.code, shardId });
  process.exit(2);
});
client.on(Events.Error, error => fail('client', error));

client.once(Events.ClientReady, ready => {
  say('ready', {
    user: { id: ready.user.id, username: ready.user.username, bot: ready.user.bot },
    applicationId: ready.application.id,
    guilds: ready.guilds.cache.map(guildSummary),
  });
});
client.on(Events.GuildAvailable, guild => say('guildAvailable', guildSummary(guild)));
client.on(Events.GuildCreate, guild => say('guildCreate', guildSummary(guild)));

client.on(Events.MessageCreate, message => {
  if (message.author.id === client.user.id) return;
  say('messageCreate', {
    id: message.id,
    content: message.content,
    author: message.author.username,
    member: message.member?.user.username ?? null,
    guildId: message.guildId,
    channelId: message.channelId,
    type: message.type,
    system: message.system,
  });
  onCommand(message).catch(error => fail(message.content, error));
});
client.on(Events.MessageUpdate, (before, after) =>
  say('messageUpdate', {
    id: after.id,
    before: before.content,
    after: after.content,
    editedAt: after.editedTimestamp,
    reactions: after.reactions.cache.map(r => r.emoji.name),
  }),
);
client.on(Events.GuildMemberAdd, member =>
  say('guildMemberAdd', {
    guildId: member.guild.id,
    username: member.user.username,
    memberCount: member.guild.memberCount,
    joinedAt: member.joinedTimestamp,
  }),
);
client.on(Events.GuildMemberRemove, member =>
  say('guildMemberRemove', { guildId: member.guild.id, username: member.user.username }),
);
client.on(Events.MessageDelete, message => say('messageDelete', { id: message.id }));
client.on(Events.MessageReactionAdd, (reaction, user) =>
  say('messageReactionAdd', {
    messageId: reaction.message.id,
    emoji: reaction.emoji.name,
    user: user.id,
    count: reaction.count,
  }),
);

client.on(Events.InteractionCreate, interaction => {
  (async () => {
    if (interaction.isChatInputCommand()) {
      const words = interaction.options.getString('words');
      say('command', { name: interaction.commandName, words, user: interaction.user.username, channelId: interaction.channelId });
      const row = new ActionRowBuilder().addComponents(
        new ButtonBuilder().setCustomId('again').setLabel('Say it again').setStyle(ButtonStyle.Primary),
      );
      await interaction.reply({ content: `echo: ${words}`, components: [row] });
      say('answered', { id: interaction.id });
    } else if (interaction.isButton()) {
      say('clicked', { customId: interaction.customId, user: interaction.user.username, messageId: interaction.message.id });
      await interaction.update({ content: `${interaction.message.content} (again)`, components: [] });
      say('updated', { messageId: interaction.message.id });
    }
  })().catch(error => fail('interaction', error));
});

process.on('unhandledRejection', error => fail('unhandledRejection', error));
process.stdin.resume();
process.stdin.on('end', async () => {
  await client.destroy();
  say('bye');
  process.exit(process.exitCode ?? 0);
});

client.login(token).catch(error => {
  fail('login', error);
  process.exit(1);
});
