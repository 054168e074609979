() => {
  // Every visible text node's colour against its effective background (WCAG 2 contrast).
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, under) => {
    const a = top.a + under.a * (1 - top.a);
    if (a === 0) return {r: 255, g: 255, b: 255, a: 0};
    const mix = (x, y) => (x * top.a + y * under.a * (1 - top.a)) / a;
    return {r: mix(top.r, under.r), g: mix(top.g, under.g), b: mix(top.b, under.b), a};
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = parse(getComputedStyle(document.body).backgroundColor) || {r: 255, g: 255, b: 255, a: 1};
    if (bg.a < 1) bg = over(bg, {r: 255, g: 255, b: 255, a: 1});
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.visibility === "hidden" || s.display === "none" || Number(s.opacity) === 0) return false;
    }
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const failures = [];
  let checked = 0;
  const check = (el, color, text, what) => {
    const s = getComputedStyle(el);
    const fg = parse(color);
    if (!fg) return;
    const bg = background(el);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const need = large ? 3 : 4.5;
    const r = ratio(over(fg, bg), bg);
    checked++;
    if (r < need) failures.push({what, text: text.slice(0, 40), ratio: Math.round(r * 100) / 100, need,
      color, background: `rgb(${Math.round(bg.r)},${Math.round(bg.g)},${Math.round(bg.b)})`,
      where: (el.id ? "#" + el.id : el.tagName.toLowerCase()) + "." + [...el.classList].slice(0, 2).join(".")});
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent.trim() || ["SCRIPT", "STYLE"].includes(el.tagName)) continue;
    seen.add(el);
    if (!visible(el)) continue;
    check(el, getComputedStyle(el).color, n.textContent.trim(), "text");
  }
  for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
    if (!visible(el) || el.value || !el.placeholder) continue;
    check(el, getComputedStyle(el, "::placeholder").color, el.placeholder, "placeholder");
  }
  for (const el of document.querySelectorAll("input:not([type=hidden]):not([type=file]):not([type=radio]):not([type=checkbox]), textarea")) {
    if (!visible(el) || !el.value) continue;
    check(el, getComputedStyle(el).color, el.value, "value");
  }
  return {checked, failures};
}
