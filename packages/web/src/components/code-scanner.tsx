import { useEffect, useRef, useState } from "preact/hooks";

/**
 * Reads a see-me code with the camera (BarcodeDetector where the browser has
 * it, else jsQR, loaded when first needed), with pasting as the fallback.
 */
export function CodeScanner({ onCode, busy }: { onCode: (code: string) => void; busy: boolean }) {
  const video = useRef<HTMLVideoElement>(null);
  const [camera, setCamera] = useState<"starting" | "on" | "unavailable">("starting");
  const [pasted, setPasted] = useState("");
  const done = useRef(false);

  useEffect(() => {
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const canvas = document.createElement("canvas");
    const start = async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
        if (stopped) return stream.getTracks().forEach((track) => track.stop());
        const element = video.current!;
        element.srcObject = stream;
        await element.play();
        setCamera("on");
        const decode = await decoder();
        const tick = async () => {
          if (stopped || done.current) return;
          if (element.videoWidth) {
            canvas.width = element.videoWidth;
            canvas.height = element.videoHeight;
            const context = canvas.getContext("2d", { willReadFrequently: true })!;
            context.drawImage(element, 0, 0);
            const text = await decode(canvas, context);
            if (text?.startsWith("SEEME") && !done.current) {
              done.current = true;
              stream?.getTracks().forEach((track) => track.stop());
              onCode(text);
              return;
            }
          }
          timer = setTimeout(() => void tick(), 200);
        };
        void tick();
      } catch {
        setCamera("unavailable");
      }
    };
    void start();
    return () => {
      stopped = true;
      clearTimeout(timer);
      stream?.getTracks().forEach((track) => track.stop());
    };
  }, []);

  return (
    <div class="scanner">
      <div class="viewfinder">
        <video ref={video} muted playsInline aria-label="Camera view" />
        {camera === "starting" && <p role="status">Starting the camera…</p>}
        {camera === "unavailable" && (
          <p role="status">No camera here (or it was not allowed): paste the code below instead.</p>
        )}
      </div>
      <form
        class="paste"
        onSubmit={(e) => {
          e.preventDefault();
          if (pasted.trim()) onCode(pasted.trim());
        }}
      >
        <label for="paste-code">Or paste their code</label>
        <textarea
          id="paste-code"
          rows={3}
          value={pasted}
          onInput={(e) => setPasted(e.currentTarget.value)}
          spellcheck={false}
          autocapitalize="characters"
        />
        <button type="submit" disabled={busy || !pasted.trim()}>
          Use this code
        </button>
      </form>
    </div>
  );
}

type Decode = (canvas: HTMLCanvasElement, context: CanvasRenderingContext2D) => Promise<string | undefined>;

interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<Array<{ rawValue: string }>>;
}

async function decoder(): Promise<Decode> {
  const Detector = (window as { BarcodeDetector?: new (options: { formats: string[] }) => BarcodeDetectorLike })
    .BarcodeDetector;
  if (Detector) {
    const detector = new Detector({ formats: ["qr_code"] });
    return async (canvas) => (await detector.detect(canvas).catch(() => []))[0]?.rawValue;
  }
  const { default: jsQR } = await import("jsqr");
  return async (canvas, context) => {
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    return jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" })?.data;
  };
}
