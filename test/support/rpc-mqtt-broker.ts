/**
 * A minimal MQTT 5 broker for tests, in-process on 127.0.0.1: enough of the protocol for
 * Nest's MQTT transport (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH at QoS 0 and 1, PINGREQ,
 * DISCONNECT), forwarding each PUBLISH with its user properties as they came, repeated
 * names included. No broker on npm speaks MQTT 5 in-process (aedes stops at 3.1.1).
 */
import {
  createServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';
import {
  generate,
  parser,
  type IPublishPacket,
  type Packet,
  type UserProperties,
} from 'mqtt-packet';

interface Session {
  readonly socket: Socket;
  /** The protocol version of its CONNECT, which the parser and generator need. */
  readonly settings: { protocolVersion: number };
  readonly filters: Set<string>;
}

/** Whether a topic filter (`+` one level, `#` the rest) matches a topic name. */
export function matchesTopic(filter: string, topic: string): boolean {
  const want = filter.split('/');
  const have = topic.split('/');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '#') return true;
    if (i >= have.length) return false;
    if (want[i] !== '+' && want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}

/** An MQTT 5 broker on 127.0.0.1 and an ephemeral port. */
export class MqttTestBroker {
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  /** Every PUBLISH received, in order (topic and user properties), for assertions. */
  readonly published: {
    topic: string;
    userProperties: UserProperties | undefined;
  }[] = [];

  private readonly sessions = new Set<Session>();

  private constructor(private readonly server: Server) {
    const { port } = server.address() as AddressInfo;
    this.url = `mqtt://127.0.0.1:${port}`;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a broker on 127.0.0.1 and an ephemeral port. */
  static async start(): Promise<MqttTestBroker> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MqttTestBroker(server);
  }

  /** Stops listening and drops every client connection. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const session of this.sessions) session.socket.destroy();
      this.sessions.clear();
    });
  }

  private accept(socket: Socket): void {
    const session: Session = {
      socket,
      settings: { protocolVersion: 4 },
      filters: new Set(),
    };
    this.sessions.add(session);
    const packets = parser(session.settings);
    packets.on('packet', (packet: Packet) => this.handle(session, packet));
    packets.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => packets.parse(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sessions.delete(session));
  }

  private send(session: Session, packet: Packet): void {
    if (session.socket.writable) {
      session.socket.write(generate(packet, session.settings));
    }
  }

  private handle(session: Session, packet: Packet): void {
    switch (packet.cmd) {
      case 'connect':
        session.settings.protocolVersion = packet.protocolVersion ?? 4;
        this.send(session, {
          cmd: 'connack',
          sessionPresent: false,
          ...(session.settings.protocolVersion === 5
            ? { reasonCode: 0 }
            : { returnCode: 0 }),
        });
        return;
      case 'subscribe':
        for (const { topic } of packet.subscriptions)
          session.filters.add(topic);
        this.send(session, {
          cmd: 'suback',
          messageId: packet.messageId,
          // Granted QoS 0 for every filter: delivery is at most once, which tests can afford.
          granted: packet.subscriptions.map(() => 0),
        });
        return;
      case 'unsubscribe':
        for (const topic of packet.unsubscriptions)
          session.filters.delete(topic);
        this.send(session, {
          cmd: 'unsuback',
          messageId: packet.messageId,
          granted: packet.unsubscriptions.map(() => 0),
        });
        return;
      case 'publish':
        this.route(packet);
        if (packet.qos === 1) {
          this.send(session, { cmd: 'puback', messageId: packet.messageId });
        }
        return;
      case 'pingreq':
        this.send(session, { cmd: 'pingresp' });
        return;
      case 'disconnect':
        session.socket.end();
        return;
      default:
        // QoS 2 and AUTH are not needed by the tests; anything else ends the session.
        session.socket.destroy();
    }
  }

  private route(packet: IPublishPacket): void {
    const userProperties = packet.properties?.userProperties;
    this.published.push({ topic: packet.topic, userProperties });
    for (const session of this.sessions) {
      if (![...session.filters].some((f) => matchesTopic(f, packet.topic))) {
        continue;
      }
      this.send(session, {
        cmd: 'publish',
        topic: packet.topic,
        payload: packet.payload,
        qos: 0,
        dup: false,
        retain: false,
        ...(session.settings.protocolVersion === 5 &&
          userProperties !== undefined && { properties: { userProperties } }),
      });
    }
  }
}
