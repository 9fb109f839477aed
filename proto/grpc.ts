/**
 * One generic bridge between protobuf-es service descriptors and @grpc/grpc-js:
 * servers and clients for any `GenService` without per-method glue. Unary
 * handlers return promises; AppErrors cross the wire as gRPC status plus
 * `app-error-*` metadata and come back out as AppErrors on the client.
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { AppError, appErrorFromGrpc, grpcErrorFromAppError, toAppError } from '../common/errors.js';
import { grpcClientSeconds, grpcServerSeconds } from '../common/metrics.js';

type In<M extends GenServiceMethods[string]> = MessageShape<M['input']>;
type Out<M extends GenServiceMethods[string]> = MessageShape<M['output']>;
type OutInit<M extends GenServiceMethods[string]> = MessageInitShape<M['output']>;

/** Server-side implementation of a service: unary methods return promises, streams get the raw call. */
export type ServiceImpl<T extends GenServiceMethods> = {
  [K in keyof T]: T[K]['methodKind'] extends 'unary'
    ? (request: In<T[K]>, call: grpc.ServerUnaryCall<In<T[K]>, Out<T[K]>>) => Promise<OutInit<T[K]>>
    : T[K]['methodKind'] extends 'bidi_streaming'
      ? (call: grpc.ServerDuplexStream<In<T[K]>, Out<T[K]>>) => void
      : never;
};

/** Client of a service: unary methods return promises, bidi methods open a stream. */
export type ServiceClient<T extends GenServiceMethods> = {
  [K in keyof T]: T[K]['methodKind'] extends 'unary'
    ? (request: MessageInitShape<T[K]['input']>, options?: CallOptions) => Promise<Out<T[K]>>
    : T[K]['methodKind'] extends 'bidi_streaming'
      ? () => grpc.ClientDuplexStream<MessageInitShape<T[K]['input']>, Out<T[K]>>
      : never;
} & { close(): void; readonly channel: grpc.Client };

export interface CallOptions {
  /** Deadline relative to now. @default 5000 */
  timeoutMs?: number;
}

function serializer(schema: DescMessage) {
  return (value: MessageInitShape<DescMessage>): Buffer =>
    Buffer.from(toBinary(schema, create(schema, value as never)));
}

function deserializer(schema: DescMessage) {
  return (bytes: Buffer): MessageShape<DescMessage> => fromBinary(schema, bytes);
}

/** Builds the grpc-js service definition of a protobuf-es service, keyed by method local name. */
export function serviceDefinition<T extends GenServiceMethods>(
  service: GenService<T>,
): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition as grpc.ServiceDefinition;
}

/** Registers an implementation on a grpc-js server, wrapping unary handlers with error mapping and metrics. */
export function addService<T extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<T>,
  impl: ServiceImpl<T>,
): void {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = impl[method.localName as keyof T] as unknown;
    if (method.methodKind === 'unary') {
      const unary = handler as (req: unknown, call: unknown) => Promise<unknown>;
      handlers[method.localName] = (
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const stop = grpcServerSeconds.startTimer({ method: method.name });
        unary(call.request, call).then(
          (result) => {
            stop({ code: 'OK' });
            callback(null, result);
          },
          (err: unknown) => {
            const appError = toAppError(err);
            stop({ code: appError.code });
            callback(grpcErrorFromAppError(appError));
          },
        );
      };
    } else {
      handlers[method.localName] = handler as grpc.handleBidiStreamingCall<unknown, unknown>;
    }
  }
  server.addService(serviceDefinition(service), handlers);
}

/** Opens a client for a service at `address` (host:port). Channels are reused per address by grpc-js. */
export function createClient<T extends GenServiceMethods>(
  service: GenService<T>,
  address: string,
  channelOptions: grpc.ChannelOptions = {},
): ServiceClient<T> {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(service), service.typeName);
  const raw = new Ctor(address, grpc.credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    ...channelOptions,
  }) as unknown as Record<string, (...args: unknown[]) => unknown> & grpc.Client;
  const client: Record<string, unknown> = {
    close: () => raw.close(),
    channel: raw,
  };
  for (const method of service.methods) {
    const fn = raw[method.localName]!.bind(raw);
    if (method.methodKind === 'unary') {
      client[method.localName] = (request: unknown, options: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const stop = grpcClientSeconds.startTimer({ method: method.name });
          const deadline = new Date(Date.now() + (options.timeoutMs ?? 5000));
          fn(
            request,
            new grpc.Metadata(),
            { deadline },
            (err: grpc.ServiceError | null, response: unknown) => {
              if (err) {
                const appError = appErrorFromGrpc(err);
                stop({ code: appError.code });
                reject(appError);
              } else {
                stop({ code: 'OK' });
                resolve(response);
              }
            },
          );
        });
    } else if (method.methodKind === 'bidi_streaming') {
      client[method.localName] = () => fn();
    } else {
      throw new AppError('internal', `unsupported method kind ${method.methodKind}`);
    }
  }
  return client as ServiceClient<T>;
}
