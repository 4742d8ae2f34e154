// The dependency-free QR encoder inside the `qrcode` package (no renderers, no Node APIs).
declare module 'qrcode/lib/core/qrcode.js' {
  export interface BitMatrix {
    size: number;
    get(row: number, col: number): boolean | number;
  }
  export function create(text: string, options?: { errorCorrectionLevel?: 'L' | 'M' | 'Q' | 'H' }): { modules: BitMatrix; version: number };
}
