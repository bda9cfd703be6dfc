import { ClientError } from "./errors.js";

export const MAX_PACKET_ID = 0xffff_ffff;

export function assertPacketId(value: number, name = "packetId"): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_PACKET_ID) {
    throw new ClientError("invalid-packet-id", `${name} must be an unsigned 32-bit integer`);
  }
}

/** Big-endian, as it is bound into the envelope. */
export function packetIdBytes(packetId: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, packetId, false);
  return bytes;
}
