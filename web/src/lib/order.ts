// 0..n-1 ordered from the middle outwards: mid, mid+1, mid-1, mid+2, ... (the order in
// which a volume's slices are fetched, so that the slice the views open on comes first).
export function middleOut(n: number): number[] {
  const mid = Math.floor(n / 2);
  const out: number[] = [];
  for (let d = 0; out.length < n; d++) {
    if (mid + d < n) out.push(mid + d);
    if (d > 0 && mid - d >= 0) out.push(mid - d);
  }
  return out;
}
