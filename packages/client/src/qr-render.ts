import QRCode from "qrcode";

/** Medium error correction: survives a smudged screen while keeping the 104–144 byte payloads small. */
const ERROR_CORRECTION = "M";
const QUIET_ZONE = 2;

/** An SVG document showing `text` as a QR code (works in browsers and Node). */
export function renderQrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: "svg", errorCorrectionLevel: ERROR_CORRECTION, margin: QUIET_ZONE });
}

/**
 * The QR code as lines of Unicode half blocks, two module rows per line, for terminals and
 * plain-text UIs. Light modules are drawn as blocks, so on a dark terminal the code appears
 * dark-on-light as scanners expect. Built from `QRCode.create` rather than qrcode's terminal
 * renderer because that renderer is missing from qrcode's browser build.
 */
export function renderQrText(text: string): string {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: ERROR_CORRECTION });
  const span = modules.size + 2 * QUIET_ZONE;
  const isLight = (row: number, col: number): boolean => {
    const r = row - QUIET_ZONE;
    const c = col - QUIET_ZONE;
    return r < 0 || c < 0 || r >= modules.size || c >= modules.size || !modules.get(r, c);
  };
  const lines: string[] = [];
  for (let row = 0; row < span; row += 2) {
    let line = "";
    for (let col = 0; col < span; col++) {
      const top = isLight(row, col);
      const bottom = row + 1 < span ? isLight(row + 1, col) : false;
      line += top && bottom ? "█" : top ? "▀" : bottom ? "▄" : " ";
    }
    lines.push(line);
  }
  return lines.join("\n");
}
