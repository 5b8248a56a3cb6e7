// Forms generated from the model's published contract (GET /schema, `schema.py`), or from
// its command capabilities (WIRE.md §4.2 CommandCap) when the document cannot be fetched:
// one form per command, one input per parameter chosen by its type and constraints.

import { el } from "./dom.js";

let uid = 0;

/** Replace `container`'s forms with one per command; `send(name, args)` resolves a reply. */
export function renderCommands(container, commands, send) {
  if (!commands.length) {
    container.replaceChildren(el("p", { class: "muted" }, "This model has no commands."));
    return;
  }
  container.replaceChildren(...commands.map((command) => commandForm(command, send)));
}

/** The commands of an OpenAPI document in the 3.x layout (`POST /events/{name}`) as CommandCaps. */
export function commandsFromSchema(doc) {
  return Object.entries(doc?.paths ?? {})
    .filter(([path, item]) => path.startsWith("/events/") && item.post)
    .map(([path, { post }]) => {
      const body = post.requestBody?.content?.["application/json"]?.schema ?? {};
      const required = new Set(body.required ?? []);
      const params = Object.entries(body.properties ?? {}).map(([name, prop]) => [name, paramSpec(prop, required.has(name))]);
      return { name: post.operationId ?? path.slice("/events/".length), description: post.summary ?? "", schema: Object.fromEntries(params) };
    });
}

/** One JSON-schema property as a CommandCap ParamSpec: a simple `type` and a `required` flag. */
function paramSpec(prop, required) {
  // `T | None` is anyOf [T, null]: the form edits the T.
  const options = (prop.anyOf ?? []).filter((p) => p.type !== "null");
  const spec = options.length === 1 ? { ...options[0], ...prop } : { ...prop };
  const simple = ["number", "integer", "string", "boolean"];
  return { ...spec, type: simple.includes(spec.type) ? spec.type : "string", required };
}

function commandForm(command, send) {
  const id = `cmd-${++uid}`;
  const fields = Object.entries(command.schema ?? {}).map(([name, spec]) => field(id, name, spec));
  const reply = el("output", { class: "reply", role: "status", "aria-live": "polite" });
  const button = el("button", { type: "submit", class: "primary" }, "Send");
  // novalidate: the runtime validates and its error message is what the user should read.
  const form = el(
    "form",
    { class: "command", novalidate: "", "data-command": command.name, "aria-labelledby": `${id}-h` },
    el("h3", { id: `${id}-h` }, el("code", {}, command.name)),
    command.description ? el("p", { class: "muted" }, command.description) : null,
    ...fields.map((f) => f.node),
    el("div", { class: "send-row" }, button, reply),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const args = {};
    for (const f of fields) {
      const value = f.read();
      if (value !== undefined) args[f.name] = value;
    }
    button.disabled = true;
    showReply(reply, "pending", "sending…");
    try {
      const { message, error } = await send(command.name, args);
      if (error) showReply(reply, "error", `✗ ${error.code}: ${error.message}`);
      else if (message) showReply(reply, "ok", `✓ ${message.type} ${JSON.stringify(message.data)}`);
      else showReply(reply, "ok", "✓ done");
    } catch (error) {
      showReply(reply, "error", `✗ ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function showReply(node, kind, text) {
  node.className = `reply ${kind}`;
  node.textContent = text;
  node.title = text;
}

/** One parameter's input: `{name, node, read()}`; `read()` is undefined to omit the argument. */
function field(formId, name, spec) {
  const id = `${formId}-${name.replace(/[^\w-]/g, "_")}`;
  const hintId = `${id}-hint`;
  const hint = spec.description ? el("small", { id: hintId, class: "muted" }, spec.description) : null;
  const label = el("label", { for: id }, name, spec.required ? el("span", { class: "req", title: "required" }, " *") : null);
  const described = hint ? { "aria-describedby": hintId } : {};
  const wrap = (control, extra = "") =>
    el("div", { class: `field ${extra}`.trim(), "data-param": name }, label, control, hint);

  if (spec.type === "boolean") {
    const input = el("input", { id, type: "checkbox", role: "switch", ...described });
    input.checked = Boolean(spec.default);
    const toggle = el("span", { class: "switch" }, input, el("span", { class: "knob", "aria-hidden": "true" }));
    return { name, node: wrap(toggle, "boolean"), read: () => input.checked };
  }

  if (Array.isArray(spec.enum)) {
    const input = el("select", { id, ...described });
    if (!spec.required && spec.default === undefined) input.append(el("option", { value: "" }, "—"));
    spec.enum.forEach((value, i) => input.append(el("option", { value: String(i) }, String(value))));
    const initial = spec.enum.indexOf(spec.default);
    if (initial >= 0) input.value = String(initial);
    return { name, node: wrap(input), read: () => (input.value === "" ? undefined : spec.enum[Number(input.value)]) };
  }

  if (spec.type === "number" || spec.type === "integer") {
    const integer = spec.type === "integer";
    const bounded = typeof spec.minimum === "number" && typeof spec.maximum === "number";
    const step = integer ? 1 : bounded ? niceStep(spec.maximum - spec.minimum) : "any";
    const limits = { min: spec.minimum, max: spec.maximum, step };
    const number = el("input", { id, type: "number", inputmode: integer ? "numeric" : "decimal", ...limits, ...described });
    number.value = spec.default ?? "";
    const read = () => (number.value.trim() === "" ? undefined : Number(number.value));
    if (!bounded) return { name, node: wrap(number), read };
    // A slider for the range, the number box for exact (or deliberately out-of-range) values.
    const slider = el("input", { type: "range", ...limits, "aria-label": `${name} slider`, tabindex: "-1" });
    slider.value = spec.default ?? spec.minimum;
    slider.addEventListener("input", () => (number.value = slider.value));
    number.addEventListener("input", () => number.value !== "" && (slider.value = number.value));
    return { name, node: wrap(el("div", { class: "range" }, slider, number)), read };
  }

  const input = el("input", {
    id,
    type: "text",
    minlength: spec.minLength,
    maxlength: spec.maxLength,
    placeholder: spec.description ?? "",
    ...described,
  });
  input.value = spec.default ?? "";
  return { name, node: wrap(input), read: () => (input.value === "" && !spec.required ? undefined : input.value) };
}

/** A round slider step giving about 100-200 positions over `span`. */
function niceStep(span) {
  if (!(span > 0)) return "any";
  const raw = span / 200;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}
