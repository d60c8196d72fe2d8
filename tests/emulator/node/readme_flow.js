// The flow of @mirohq/miro-api's README, run against the Miro emulator at argv[2]:
// authorization URL, code exchange, a board, items, a connector, a tag.
//
// The client is configured the documented way (`basePath`), except for one thing it
// does not let anyone configure: its token exchange always posts to
// https://api.miro.com. For that request only the host is redirected to the emulator;
// path, query and body go out as the client made them.
'use strict';

const emulator = process.argv[2];
const nodeFetch = require('node-fetch');
const originalFetch = nodeFetch.default;
const tokenHosts = [];
nodeFetch.default = (url, init) => {
  const text = String(url);
  if (text.startsWith('https://api.miro.com/')) {
    tokenHosts.push(new URL(text).pathname);
    return originalFetch(emulator + text.slice('https://api.miro.com'.length), init);
  }
  return originalFetch(url, init);
};

const {Miro} = require('@mirohq/miro-api');

async function main() {
  const userId = 'app-user-1';
  const miro = new Miro({
    clientId: process.env.MIRO_CLIENT_ID,
    clientSecret: process.env.MIRO_CLIENT_SECRET,
    redirectUrl: process.env.MIRO_REDIRECT_URL,
    basePath: emulator,
  });
  const before = await miro.isAuthorized(userId);

  // The user follows the authorization URL; the emulator approves at once and
  // redirects back with a code, which the app exchanges.
  const authUrl = miro.getAuthUrl();
  const consent = await originalFetch(authUrl, {redirect: 'manual'});
  const callback = consent.headers.get('location');
  await miro.exchangeCodeForAccessToken(userId, callback);
  const after = await miro.isAuthorized(userId);

  const api = miro.as(userId);
  const board = await api.createBoard({name: 'From the Node client'});
  const note = await board.createStickyNoteItem({data: {content: 'Hello from Node'}});
  const shape = await board.createShapeItem({
    data: {shape: 'circle', content: 'Done'},
    position: {x: 400, y: 0},
  });
  const card = await board.createCardItem({data: {title: 'Task'}, position: {x: 0, y: 300}});
  const connector = await note.connectTo(shape.id);
  const tag = await board.createTag({title: 'urgent', fillColor: 'red'});
  await card.attachTag(tag.id);
  const tagged = (await card.getAllTags()).map((t) => t.title);
  await card.removeTag(tag.id);
  const afterRemoval = (await card.getAllTags()).length;
  const cardStillThere = (await board.getItem(card.id)).id;

  const items = [];
  for await (const item of board.getAllItems()) items.push(item.type);
  const boards = [];
  for await (const b of api.getAllBoards()) boards.push(b.id);
  const connectors = [];
  for await (const c of board.getAllConnectors()) connectors.push(c.id);

  console.log(JSON.stringify({
    authUrl, before, after, tokenHosts,
    board: board.id, viewLink: board.viewLink,
    items: items.sort(), connector: connector.id, connectors,
    tagged, afterRemoval, cardStillThere, card: card.id, boards,
  }));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
