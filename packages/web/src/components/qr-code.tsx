import { useEffect, useState } from "preact/hooks";
import { renderQrSvg } from "@seeme/client";

/** A see-me code as a large QR, and as text to copy when a camera is not at hand. */
export function QrCode({ code, owner }: { code: string; owner: string }) {
  const [svg, setSvg] = useState("");
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    void renderQrSvg(code).then(setSvg);
  }, [code]);
  const copy = async () => {
    await navigator.clipboard?.writeText(code).then(
      () => setCopied(true),
      () => undefined,
    );
  };
  return (
    <div class="qr">
      {/* The SVG comes from our own QR encoder over a code made of A-Z, 0-9 and ':'. */}
      <div class="qr-image" role="img" aria-label={`QR code: ${owner}`} dangerouslySetInnerHTML={{ __html: svg }} />
      <details>
        <summary>Show the code as text</summary>
        <label for="code-text">Code to paste on the other phone</label>
        <textarea id="code-text" readOnly rows={4} value={code} />
        <button type="button" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy code"}
        </button>
      </details>
    </div>
  );
}
