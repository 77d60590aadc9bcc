// Minimal typings for the parts of the `faye` client sfbridge uses.
declare module 'faye' {
  export interface Message {
    channel: string;
    clientId?: string;
    successful?: boolean;
    error?: string;
    advice?: { reconnect?: string; interval?: number; timeout?: number };
    ext?: Record<string, unknown>;
    data?: unknown;
    subscription?: string;
    [key: string]: unknown;
  }
  export interface Extension {
    incoming?(message: Message, callback: (m: Message) => void): void;
    outgoing?(message: Message, callback: (m: Message) => void): void;
  }
  export interface Subscription {
    then(ok?: () => void, fail?: (err: { message?: string; code?: number } | Error) => void): Subscription;
    cancel(): void;
  }
  export class Client {
    constructor(
      url: string,
      options?: {
        timeout?: number;
        retry?: number;
        tls?: { ca?: string | Buffer; secureContext?: import('node:tls').SecureContext; agent?: import('node:http').Agent };
        ca?: string | Buffer;
      },
    );
    disable(feature: string): void;
    setHeader(name: string, value: string): void;
    addExtension(ext: Extension): void;
    subscribe(channel: string, handler: (data: unknown) => void): Subscription;
    disconnect(): void;
    on(event: 'transport:down' | 'transport:up', fn: () => void): void;
  }
  const Faye: { Client: typeof Client };
  export default Faye;
}
