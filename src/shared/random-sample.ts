/** A uniform random sample without replacement (partial Fisher-Yates on a copy). */
export function randomSample<T>(items: Iterable<T>, n: number): T[] {
  const a = [...items];
  const m = Math.min(n, a.length);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, m);
}
