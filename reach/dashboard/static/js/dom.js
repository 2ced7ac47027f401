// Small DOM helpers: text always goes through textContent.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.dataset[key.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function message(container, text, cls = "notice") {
  container.replaceChildren(h("p", { class: cls }, text));
}

// Run fn now and every `ms` until disposed; a failing run waits for the next.
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    try { await fn(); } catch (error) { window.__errors.push(String(error)); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}

export function flash(node) {
  node.classList.remove("changed");
  void node.offsetWidth; // restart the animation
  node.classList.add("changed");
}
