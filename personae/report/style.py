"""The report's stylesheet, inlined into the page (the page loads nothing from anywhere else)."""

CSS = """
:root {
  --ink: #1f2328; --muted: #6a737d; --line: #e4e2dc; --paper: #f7f6f2; --card: #ffffff;
  --accent: #4e79a7; --mono: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html { background: var(--paper); }
body {
  margin: 0; color: var(--ink); line-height: 1.5; font-size: 15px;
  font-family: -apple-system, "Segoe UI", "Helvetica Neue", "Liberation Sans", Arial, sans-serif;
  -webkit-font-smoothing: antialiased;
}
main { max-width: 1120px; margin: 0 auto; padding: 40px 28px 56px; }
h1, h2, h3, h4 { line-height: 1.2; margin: 0; }
h1 { font-size: 34px; letter-spacing: -0.02em; }
h2 { font-size: 23px; margin: 0 0 6px; letter-spacing: -0.01em; }
h3 { font-size: 18px; }
h4 { font-size: 12px; text-transform: uppercase; letter-spacing: 0.08em; color: var(--muted); margin: 0 0 10px; }
p { margin: 0 0 10px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: var(--mono); font-size: 13px; }
.eyebrow { text-transform: uppercase; letter-spacing: 0.14em; font-size: 12px; color: var(--accent);
  font-weight: 700; margin-bottom: 6px; }
.lede { color: #444c56; font-size: 16px; max-width: 760px; margin-top: 8px; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
header.hero { padding-bottom: 22px; border-bottom: 1px solid var(--line); margin-bottom: 30px; }
nav { margin-top: 18px; display: flex; gap: 18px; flex-wrap: wrap; font-size: 14px; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 18px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 9px 14px;
  min-width: 110px; }
.stat .value { font-size: 20px; font-weight: 700; font-variant-numeric: tabular-nums; }
.stat .key { font-size: 12px; color: var(--muted); }
section { margin: 0 0 40px; }
section > .intro { color: #444c56; max-width: 820px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 14px;
  box-shadow: 0 1px 2px rgba(0,0,0,0.04), 0 4px 14px rgba(0,0,0,0.03); padding: 20px 22px; margin-top: 16px; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 10px; }
.control { margin-top: 12px; font-size: 14px; padding: 10px 14px; background: #f3f6fa;
  border-left: 3px solid var(--accent); border-radius: 4px; }
.empty { padding: 18px 20px; background: #fbfaf7; border: 1px dashed #cfcac0; border-radius: 10px;
  color: #444c56; }
.user > header { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; margin-bottom: 14px; }
.user-grid { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 7fr); gap: 28px; }
@media (max-width: 860px) { .user-grid { grid-template-columns: 1fr; } }
.persona-list { list-style: none; padding: 0; margin: 0; }
.persona-list li { padding: 10px 0; border-top: 1px solid #f0eee9; }
.persona-list li:first-child { border-top: 0; padding-top: 0; }
.persona-head { display: flex; align-items: center; gap: 8px; }
.persona-head .label { font-weight: 650; flex: 1; min-width: 0; }
.weight { display: flex; align-items: center; gap: 8px; margin: 6px 0 4px; }
.bar { flex: 1; height: 8px; background: #efede8; border-radius: 99px; overflow: hidden; }
.bar > span { display: block; height: 100%; border-radius: 99px; }
.weight .pct { width: 42px; text-align: right; font-variant-numeric: tabular-nums; font-size: 13px; }
.support { font-size: 13px; color: #444c56; }
.chip { display: inline-block; padding: 1px 8px; border-radius: 99px; font-size: 12px; font-weight: 700;
  color: #fff; white-space: nowrap; background: var(--c, #999); }
.chip.empty { color: #6a737d; background: #fff; border: 1px dashed #b5b0a6; padding: 0 7px; }
.marker { font-size: 13px; color: var(--ink); background: #f3f1ec; border-radius: 6px; padding: 1px 8px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th { text-align: left; font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted);
  font-weight: 600; border-bottom: 1px solid var(--line); padding: 6px 8px; }
td { padding: 7px 8px; border-bottom: 1px solid #f0eee9; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
.figure-table th { text-transform: none; letter-spacing: 0; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.rank { color: var(--muted); width: 26px; text-align: right; font-variant-numeric: tabular-nums; }
.recs .title { font-weight: 600; }
.recs .because { font-size: 12.5px; color: var(--muted); }
.recs td.who { width: 150px; }
.stack { display: flex; height: 6px; border-radius: 99px; overflow: hidden; margin-top: 6px; background: #efede8; }
.stack > span { display: block; height: 100%; border-right: 1px solid #fff; }
.stack > span:last-child { border-right: 0; }
pre.command { background: #1f2328; color: #e6edf3; padding: 12px 14px; border-radius: 8px; overflow-x: auto;
  margin: 8px 0 14px; white-space: pre-wrap; word-break: break-word; }
.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 8px 18px;
  margin: 8px 0 14px; }
.kv div { border-bottom: 1px solid #f0eee9; padding: 4px 0; display: flex; justify-content: space-between;
  gap: 12px; font-size: 14px; }
.kv .k { color: var(--muted); }
.kv .v { font-variant-numeric: tabular-nums; font-weight: 600; text-align: right; word-break: break-word; }
.table-wrap { overflow-x: auto; }
footer { color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--line); padding-top: 14px; }
"""
