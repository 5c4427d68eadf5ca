"""The one page of the web view: the stream and a live stats table (no external resources)."""

PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pi_vision</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 1em; background: #111; color: #eee; }
 main { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
 img { max-width: 100%; background: #000; border: 1px solid #333; }
 table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: right; border-bottom: 1px solid #333; }
 th:first-child, td:first-child { text-align: left; } .bad { color: #f66; } h1 { font-size: 1.2em; }
</style></head>
<body><h1>pi_vision <span id="model"></span></h1>
<main>
 <img id="stream" alt="live stream">
 <div>
  <table id="summary"><tbody></tbody></table>
  <h2>ms per stage</h2>
  <table id="stages"><thead><tr><th>stage</th><th>p50</th><th>p95</th><th>p99</th></tr></thead><tbody></tbody></table>
  <h2>objects</h2><table id="objects"><tbody></tbody></table>
  <div id="variants"></div>
 </div>
</main>
<script>
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
document.getElementById("stream").src = "/stream.mjpg" + q;
function rows(id, list) {
  const body = document.querySelector("#" + id + " tbody");
  body.innerHTML = "";
  for (const cells of list) {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    body.appendChild(tr);
  }
}
async function refresh() {
  try {
    const s = await (await fetch("/stats.json" + q)).json();
    if (!s.event) return;
    rows("summary", [["fps", s.fps], ["camera fps", s.camera_fps], ["dropped", s.dropped],
      ["frame age p95 ms", (s.ms.frame_age || {}).p95], ["tracks", s.tracks ?? "-"],
      ["camera", s.camera_ok === false ? "OUT" : "ok"], ["uptime s", s.uptime_s]]);
    document.querySelector("#summary").classList.toggle("bad", s.camera_ok === false);
    rows("stages", Object.entries(s.ms).map(([k, v]) => [k, v.p50, v.p95, v.p99]));
    rows("objects", Object.entries(s.objects || {}).map(([k, v]) => [k, v]));
    const variants = s.variants ? Object.entries(s.variants) : [];
    document.getElementById("variants").textContent = variants.length ?
      "variants: " + variants.map(([k, v]) => k + " " + JSON.stringify(v)).join("; ") : "";
  } catch (e) { /* the next refresh tries again */ }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""
