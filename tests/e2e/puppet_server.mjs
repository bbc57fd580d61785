#!/usr/bin/env node
// Wechaty puppet-service server for gridbot's end-to-end tests. No WeChat account is needed:
// the real npm `wechaty-puppet-service` PuppetServer (gRPC, plaintext) is backed by
// `wechaty-puppet-mock`, with a fixed fixture of contacts and rooms and a small HTTP control
// API that tests use to make residents speak and to read what the bot sent.
//
//   node puppet_server.mjs --port GRPC_PORT --control-port HTTP_PORT --token TOKEN [--exit-with-parent]
//
// stdout carries exactly one line, `READY grpc=PORT control=PORT`; every log goes to stderr.
// See README.md beside this file for the control API.

import crypto from 'node:crypto'
import http from 'node:http'
import { parseArgs } from 'node:util'

// Library logs (brolog prints info/verbose with console.info/console.log) must not reach stdout.
for (const name of ['log', 'info', 'debug']) {
  console[name] = (...args) => console.error(...args)
}

const USAGE = 'usage: node puppet_server.mjs --port GRPC_PORT [--control-port HTTP_PORT] [--token TOKEN]'
  + ' [--host 127.0.0.1] [--exit-with-parent]'
let args
try {
  ({ values: args } = parseArgs({ options: {
    port: { type: 'string' },
    'control-port': { type: 'string' },
    token: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'exit-with-parent': { type: 'boolean', default: false },
  } }))
} catch (e) {
  console.error(`${e.message}\n${USAGE}`)
  process.exit(2)
}
const GRPC_PORT = Number(args.port ?? process.env.E2E_GRPC_PORT)
const CONTROL_PORT = Number(args['control-port'] ?? process.env.E2E_CONTROL_PORT ?? 0)
const TOKEN = args.token ?? process.env.E2E_TOKEN ?? 'gridbot-e2e-token'
const HOST = args.host
if (!Number.isInteger(GRPC_PORT) || GRPC_PORT <= 0) {
  console.error(USAGE)
  process.exit(2)
}

const PUPPET = await import('wechaty-puppet')
const { PuppetMock, mock } = await import('wechaty-puppet-mock')
const { PuppetServer } = await import('wechaty-puppet-service')
PUPPET.log.level(process.env.WECHATY_LOG || 'warn')

// ---------------------------------------------------------------------------------------------
// Fixture. Ids are stable; room ids must contain "@" (the mock tells rooms from contacts by it).

const SELF = { id: 'gridbot-self', name: '网格助手' }
const CONTACTS = [
  SELF,
  { id: 'wxid_wangfang', name: '王芳', gender: PUPPET.types.ContactGender.Female },
  { id: 'wxid_liudaye', name: '刘大爷', gender: PUPPET.types.ContactGender.Male },
  { id: 'wxid_chenayi', name: '陈阿姨', gender: PUPPET.types.ContactGender.Female },
  { id: 'wxid_lina', name: '李娜', gender: PUPPET.types.ContactGender.Female }, // grid worker
]
const ROOMS = [
  {
    id: 'xingfuli-1@chatroom',
    topic: '幸福里1-6号楼邻里群',
    memberIdList: ['wxid_wangfang', 'wxid_liudaye', 'wxid_chenayi', 'wxid_lina', SELF.id],
    ownerId: 'wxid_lina',
  },
  {
    id: 'hepingyuan@chatroom',
    topic: '和平苑居民群',
    memberIdList: ['wxid_liudaye', 'wxid_chenayi', 'wxid_lina', SELF.id],
    ownerId: 'wxid_lina',
  },
]

const contactPayload = (c) => ({
  id: c.id,
  name: c.name,
  alias: undefined,
  avatar: '',
  gender: c.gender ?? PUPPET.types.ContactGender.Unknown,
  type: PUPPET.types.Contact.Individual,
  friend: c.friend ?? true,
  phone: [],
  star: false,
  weixin: c.id,
  city: '',
  province: '',
  address: '',
  signature: '',
})
const roomPayload = (r) => ({
  id: r.id,
  topic: r.topic ?? '',
  memberIdList: [...(r.memberIdList ?? [])],
  adminIdList: [],
  ownerId: r.ownerId,
  avatar: '',
})

const mocker = new mock.Mocker()
const puppet = new (class GridbotPuppetMock extends PuppetMock {
  // The stock mock returns no message id and drops mention ids; record every send and echo it
  // back as a message event, as WeChat does for the account's own messages.
  async messageSendText (conversationId, text, mentionIdList = []) {
    return sendFromBot(conversationId, { kind: 'text', text, mentions: mentionIdList ?? [] })
  }

  async messageSendFile (conversationId, file) {
    return sendFromBot(conversationId, { kind: 'file', text: file?.name ?? '' })
  }

  async messageSendUrl (conversationId, urlLink) {
    return sendFromBot(conversationId, { kind: 'url', text: urlLink?.url ?? '' })
  }

  async messageSendContact (conversationId, contactId) {
    return sendFromBot(conversationId, { kind: 'contact', text: contactId })
  }

  async messageSendMiniProgram (conversationId, mp) {
    return sendFromBot(conversationId, { kind: 'mini_program', text: mp?.title ?? '' })
  }

  async messageSendLocation (conversationId, location) {
    return sendFromBot(conversationId, { kind: 'location', text: location?.name ?? '' })
  }

  async messageForward (conversationId, messageId) {
    const original = mocker.cacheMessagePayload.get(messageId)
    return sendFromBot(conversationId, { kind: 'forward', text: original?.text ?? '', forwarded: messageId })
  }
})({ mocker })

const hasContact = (id) => mocker.cacheContactPayload.has(id)
const hasRoom = (id) => mocker.cacheRoomPayload.has(id)
const loadContact = (id) => mocker.ContactMock.load(id)
const loadRoom = (id) => mocker.RoomMock.load(id)

function ensureContact (c) {
  if (!hasContact(c.id)) mocker.ContactMock.create(contactPayload(c))
  return loadContact(c.id)
}

function ensureRoom (r) {
  if (!hasRoom(r.id)) mocker.RoomMock.create(roomPayload(r))
  return loadRoom(r.id)
}

// Runs on every puppet start, including the Stop/Start that each gRPC client does when it
// connects: must be idempotent. State added later through the control API survives it.
mocker.use(() => {
  CONTACTS.forEach(ensureContact)
  ROOMS.forEach(ensureRoom)
  if (!puppet.isLoggedIn) {
    mocker.login(loadContact(SELF.id))
    setImmediate(() => puppet.emit('ready', { data: 'ready' }))
  }
  return () => {}
})

// ---------------------------------------------------------------------------------------------
// Messages

const sent = []
let messageSeq = 0
const newMessageId = (prefix) => `${prefix}-${++messageSeq}-${crypto.randomUUID().slice(0, 8)}`

const KIND_TYPE = {
  text: PUPPET.types.Message.Text,
  file: PUPPET.types.Message.Attachment,
  url: PUPPET.types.Message.Url,
  contact: PUPPET.types.Message.Contact,
  mini_program: PUPPET.types.Message.MiniProgram,
  location: PUPPET.types.Message.Location,
  forward: PUPPET.types.Message.Text,
}

function storeAndEmit (payload) {
  if (mocker.cacheMessagePayload.has(payload.id)) {
    // Redelivery of a known id: the server emits the same message event again.
    puppet.cache.message.delete(payload.id)
  } else {
    mocker.MessageMock.create(payload)
  }
  puppet.emit('message', { messageId: payload.id })
}

async function sendFromBot (conversationId, { kind, text, mentions = [], forwarded }) {
  if (!puppet.isLoggedIn) throw new Error('not logged in')
  const isRoom = conversationId.includes('@')
  if (isRoom ? !hasRoom(conversationId) : !hasContact(conversationId)) {
    throw new Error(`unknown conversation ${conversationId}`)
  }
  const id = newMessageId('bot')
  const record = {
    id,
    room: isRoom ? conversationId : null,
    to: isRoom ? null : conversationId,
    text,
    mentions: [...mentions],
    kind,
    at: Date.now(),
  }
  if (forwarded) record.forwarded = forwarded
  sent.push(record)
  storeAndEmit({
    id,
    talkerId: puppet.currentUserId,
    ...(isRoom ? { roomId: conversationId, mentionIdList: [...mentions] } : { listenerId: conversationId }),
    text,
    timestamp: record.at,
    type: KIND_TYPE[kind] ?? PUPPET.types.Message.Unknown,
  })
  return id
}

function messageType (value) {
  if (value === undefined || value === null) return PUPPET.types.Message.Text
  if (typeof value === 'number') return value
  const t = PUPPET.types.Message[value] ?? PUPPET.types.Message[value[0].toUpperCase() + value.slice(1)]
  if (typeof t !== 'number') throw new HttpError(400, `unknown message type ${value}`)
  return t
}

function say ({ from, room = null, text = '', id, mentions, type }) {
  if (!from || !hasContact(from)) throw new HttpError(400, `unknown contact ${from}`)
  if (room) {
    if (!hasRoom(room)) throw new HttpError(400, `unknown room ${room}`)
    if (!mocker.roomPayload(room).memberIdList.includes(from)) {
      throw new HttpError(400, `${from} is not a member of ${room}`)
    }
  }
  const messageId = id ? String(id) : newMessageId('msg')
  const redelivered = mocker.cacheMessagePayload.has(messageId)
  let payload
  if (redelivered) {
    payload = mocker.cacheMessagePayload.get(messageId)
  } else {
    if (room && mentions === undefined) {
      // Like WeChat: "@Name" followed by a space, U+2005 or the end mentions a room member.
      const members = mocker.roomPayload(room).memberIdList
      mentions = members.filter((mid) => {
        const name = hasContact(mid) ? mocker.contactPayload(mid).name : undefined
        return name && new RegExp(`@${escapeRegExp(name)}(?=[\\s\\u2005]|$)`).test(text)
      })
    }
    payload = {
      id: messageId,
      talkerId: from,
      ...(room ? { roomId: room, mentionIdList: mentions ?? [] } : { listenerId: SELF.id }),
      text,
      timestamp: Date.now(),
      type: messageType(type),
    }
  }
  const delivered = puppet.listenerCount('message') > 0
  storeAndEmit(payload)
  return { id: messageId, redelivered, delivered, mentions: payload.mentionIdList ?? [] }
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

// ---------------------------------------------------------------------------------------------
// Rooms and contacts

function dirtyRoom (id) {
  puppet.cache.room.delete(id)
  puppet.cache.roomMember.clear?.()
}

function createRoom ({ id, topic = '', members = [], inviter }) {
  if (!id || !String(id).includes('@')) throw new HttpError(400, 'room id must contain "@"')
  for (const m of members) if (!hasContact(m)) throw new HttpError(400, `unknown contact ${m}`)
  const memberIdList = members.filter((m) => m !== SELF.id)
  const existed = hasRoom(id)
  const room = ensureRoom({ id, topic, memberIdList, ownerId: memberIdList[0] })
  let joined = false
  if (!mocker.roomPayload(id).memberIdList.includes(SELF.id)) {
    const by = loadContact(inviter ?? memberIdList[0] ?? SELF.id)
    room.add(loadContact(SELF.id)).by(by) // emits room-join
    joined = true
  }
  dirtyRoom(id)
  return { id, created: !existed, joined }
}

function joinRoom ({ room, members = [], inviter }) {
  if (!hasRoom(room)) throw new HttpError(400, `unknown room ${room}`)
  const current = mocker.roomPayload(room).memberIdList
  for (const m of members) if (!hasContact(m)) throw new HttpError(400, `unknown contact ${m}`)
  const added = members.filter((m) => !current.includes(m))
  if (added.length) {
    loadRoom(room).add(...added.map(loadContact)).by(loadContact(inviter ?? SELF.id)) // room-join
    dirtyRoom(room)
  }
  return { room, added }
}

function leaveRoom ({ room, members = [], remover }) {
  if (!hasRoom(room)) throw new HttpError(400, `unknown room ${room}`)
  const current = mocker.roomPayload(room).memberIdList
  const removed = members.filter((m) => current.includes(m))
  if (removed.length) {
    const by = loadContact(remover ?? removed[0])
    loadRoom(room).remove(...removed.map(loadContact)).by(by) // room-leave
    dirtyRoom(room)
  }
  return { room, removed }
}

function setTopic ({ room, topic, by }) {
  if (!hasRoom(room)) throw new HttpError(400, `unknown room ${room}`)
  if (typeof topic !== 'string') throw new HttpError(400, 'topic must be a string')
  const changer = by ?? mocker.roomPayload(room).ownerId ?? SELF.id
  if (!hasContact(changer)) throw new HttpError(400, `unknown contact ${changer}`)
  loadRoom(room).topic(topic).by(loadContact(changer)) // emits room-topic, then sets the topic
  dirtyRoom(room)
  return { room, topic }
}

function addContact ({ id, name, friend = true }) {
  if (!id || !name) throw new HttpError(400, 'id and name are required')
  if (String(id).includes('@')) throw new HttpError(400, 'contact ids must not contain "@"')
  const existed = hasContact(id)
  ensureContact({ id, name, friend })
  return { id, created: !existed }
}

function state () {
  return {
    self: puppet.isLoggedIn ? puppet.currentUserId : null,
    contacts: [...mocker.cacheContactPayload.values()].map(({ id, name }) => ({ id, name })),
    rooms: [...mocker.cacheRoomPayload.values()].map(({ id, topic, memberIdList }) => ({
      id, topic, members: [...memberIdList],
    })),
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP control API

class HttpError extends Error {
  constructor (status, message) { super(message); this.status = status }
}

let grpcListening = false

async function readJson (req) {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  const body = Buffer.concat(chunks).toString('utf8').trim()
  if (!body) return {}
  try {
    return JSON.parse(body)
  } catch {
    throw new HttpError(400, 'body is not JSON')
  }
}

const routes = {
  'GET /healthz': () => {
    // A gRPC client's Stop (the Python client sends one on connect and on stop()) stops the mock
    // puppet and logs it out until the next client's Start; that idle state is healthy too.
    const idle = puppet.state.inactive() === true
    const ok = grpcListening && (puppet.isLoggedIn || idle)
    return [ok ? 200 : 503, {
      ok,
      grpcListening,
      loggedIn: puppet.isLoggedIn,
      puppet: idle ? 'stopped' : 'started',
      clientConnected: puppet.listenerCount('message') > 0,
    }]
  },
  'POST /say': async (req) => [200, say(await readJson(req))],
  'GET /sent': () => [200, sent],
  'DELETE /sent': () => { sent.length = 0; return [200, { ok: true }] },
  'POST /room': async (req) => [200, createRoom(await readJson(req))],
  'POST /join': async (req) => [200, joinRoom(await readJson(req))],
  'POST /leave': async (req) => [200, leaveRoom(await readJson(req))],
  'POST /topic': async (req) => [200, setTopic(await readJson(req))],
  'POST /contact': async (req) => [200, addContact(await readJson(req))],
  'GET /state': () => [200, state()],
  // Emulate WeChat logging the account out (kicked, session expired) and back in, while the
  // gRPC stream stays up. The Python client sees `logout`, then `login`.
  'POST /logout': async () => {
    await puppet.logout('logged out by the control API')
    return [200, { loggedIn: puppet.isLoggedIn }]
  },
  'POST /login': () => {
    if (puppet.state.inactive() === true) throw new HttpError(409, 'puppet is stopped; a client Start logs in')
    if (!puppet.isLoggedIn) {
      mocker.login(loadContact(SELF.id))
      setImmediate(() => puppet.emit('ready', { data: 'ready' }))
    }
    return [200, { loggedIn: puppet.isLoggedIn }]
  },
}

const control = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname
  const route = routes[`${req.method} ${path}`]
  let status, body
  try {
    if (!route) throw new HttpError(404, `no route ${req.method} ${path}`)
    ;[status, body] = await route(req)
  } catch (e) {
    status = e.status ?? 500
    body = { error: e.message }
    if (status === 500) console.error('control API error', e)
  }
  const data = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data) })
  res.end(data)
})

// ---------------------------------------------------------------------------------------------
// Start and stop

const server = new PuppetServer({
  endpoint: `${HOST}:${GRPC_PORT}`,
  puppet,
  token: TOKEN,
  tls: { disable: true }, // plaintext HTTP/2, as the Python client speaks
})

function waitFor (predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const timer = setInterval(() => {
      if (predicate()) { clearInterval(timer); resolve() } else if (Date.now() - started > ms) {
        clearInterval(timer); reject(new Error(`timed out waiting for ${what}`))
      }
    }, 20)
  })
}

let stopping = false
async function shutdown (signal) {
  if (stopping) return
  stopping = true
  console.error(`puppet_server: ${signal}, stopping`)
  const force = setTimeout(() => process.exit(0), 5000)
  force.unref()
  try {
    control.close()
    control.closeAllConnections?.()
    await server.stop()
    await puppet.stop()
  } catch (e) {
    console.error('puppet_server: error while stopping', e)
  }
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
if (args['exit-with-parent']) {
  // A test runner killed without cleanup must not leave this server behind.
  const parent = process.ppid
  setInterval(() => { if (process.ppid !== parent) shutdown('parent exited') }, 1000).unref()
}

try {
  await puppet.start()
  await waitFor(() => puppet.isLoggedIn, 10000, 'mock login')
  await server.start()
  grpcListening = true
  await new Promise((resolve, reject) => {
    control.once('error', reject)
    control.listen(CONTROL_PORT, HOST, resolve)
  })
} catch (e) {
  console.error('puppet_server: failed to start:', e)
  process.exit(1)
}
process.stdout.write(`READY grpc=${GRPC_PORT} control=${control.address().port}\n`)
