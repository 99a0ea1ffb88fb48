import { useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import type { ListResponse, ServedModel } from '../api/types';
import { tokensPerSecond } from '../chat/chat-speed';
import { type ChatAnswer, type ChatMessage, streamChat } from '../chat/stream-chat';
import { ErrorNote } from '../components/error-note';
import { PageTitle } from '../components/page-title';
import { formatMs, formatNumber } from '../format';
import { usePoll } from '../use-poll';

interface Turn {
  question: string;
  answer: ChatAnswer | null;
}

function Answer({ answer }: { answer: ChatAnswer }) {
  const ttft = answer.firstTokenAtMs === null ? null : answer.firstTokenAtMs - answer.startedAtMs;
  const speed = tokensPerSecond(answer);
  return (
    <article class="answer" data-testid="chat-answer" data-done={answer.done} data-events={answer.chunks}>
      {answer.reasoning !== '' && (
        <details class="reasoning" open data-testid="chat-reasoning">
          <summary>Reasoning ({answer.reasoning.length} characters)</summary>
          <div class="reasoning-text" data-testid="chat-reasoning-text">
            {answer.reasoning}
          </div>
        </details>
      )}
      <div class="answer-text" data-testid="chat-content">
        {answer.content}
        {!answer.done && <span class="cursor" aria-hidden="true" />}
      </div>
      {answer.error && (
        <p class="note note-error" role="alert">
          {answer.error}
        </p>
      )}
      <footer class="muted" data-testid="chat-meta">
        room <strong data-testid="chat-site">{answer.site ?? '–'}</strong> · instance{' '}
        <code data-testid="chat-instance">{answer.instance ?? '–'}</code> · first token {formatMs(ttft)} ·{' '}
        {answer.completionTokens ?? answer.chunks} tokens ·{' '}
        <span data-testid="chat-speed">{speed === null ? '–' : `${formatNumber(speed)} tok/s`}</span>
      </footer>
    </article>
  );
}

/** Chat with any deployment through the gateway: streamed, reasoning apart, routing and speed per answer. */
export function PlaygroundPage() {
  const models = usePoll((signal) => api<ListResponse<ServedModel>>('/v1/models', { signal }), 5000, []);
  const [model, setModel] = useState('');
  const [text, setText] = useState('');
  const [maxTokens, setMaxTokens] = useState('');
  const [temperature, setTemperature] = useState('0.6');
  const [turns, setTurns] = useState<Turn[]>([]);
  const controller = useRef<AbortController | null>(null);
  const [busy, setBusy] = useState(false);
  const list = models.data?.data ?? [];
  const chosen = model || list[0]?.id || '';

  const send = async (): Promise<void> => {
    const question = text.trim();
    if (!question || !chosen || busy) return;
    const history: ChatMessage[] = turns.flatMap((t) => [
      { role: 'user' as const, content: t.question },
      ...(t.answer && !t.answer.error ? [{ role: 'assistant' as const, content: t.answer.content }] : []),
    ]);
    const index = turns.length;
    const setAnswer = (answer: ChatAnswer): void =>
      setTurns((all) => all.map((t, i) => (i === index ? { ...t, answer } : t)));
    setTurns([...turns, { question, answer: null }]);
    setText('');
    setBusy(true);
    controller.current = new AbortController();
    const max = Number(maxTokens);
    const temp = Number(temperature);
    try {
      await streamChat({
        model: chosen,
        messages: [...history, { role: 'user', content: question }],
        ...(maxTokens.trim() !== '' && Number.isFinite(max) && { maxTokens: max }),
        ...(temperature.trim() !== '' && Number.isFinite(temp) && { temperature: temp }),
        signal: controller.current.signal,
        onUpdate: setAnswer,
      });
    } catch (caught) {
      const message = caught instanceof Error ? caught.message : String(caught);
      setTurns((all) =>
        all.map((t, i) =>
          i === index
            ? {
                ...t,
                answer: {
                  ...(t.answer ?? emptyAnswer()),
                  done: true,
                  error: controller.current?.signal.aborted ? 'stopped' : message,
                },
              }
            : t,
        ),
      );
    } finally {
      setBusy(false);
      controller.current = null;
    }
  };

  return (
    <>
      <PageTitle title="Playground" />
      <ErrorNote error={models.error} what="The model list" />
      <div class="card form">
        <div class="grid">
          <label>
            Deployment
            <select value={chosen} onChange={(e) => setModel(e.currentTarget.value)} data-testid="chat-model">
              {list.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id}
                  {m.meta?.status && m.meta.status !== 'running' ? ` (${m.meta.status})` : ''}
                </option>
              ))}
            </select>
          </label>
          <label>
            Max tokens
            <input
              inputMode="numeric"
              value={maxTokens}
              placeholder="rest of the context"
              onInput={(e) => setMaxTokens(e.currentTarget.value)}
            />
          </label>
          <label>
            Temperature
            <input
              inputMode="decimal"
              value={temperature}
              onInput={(e) => setTemperature(e.currentTarget.value)}
              data-testid="chat-temperature"
            />
          </label>
        </div>
      </div>
      <ol class="chat" aria-live="polite" data-testid="chat-log">
        {turns.map((turn, i) => (
          <li key={i}>
            <p class="question">{turn.question}</p>
            {turn.answer ? <Answer answer={turn.answer} /> : <p class="muted">Waiting for the first byte…</p>}
          </li>
        ))}
      </ol>
      <form
        class="card chat-input"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <label for="chat-text">Message</label>
        <textarea
          id="chat-text"
          rows={3}
          value={text}
          placeholder="Ask something (Ctrl+Enter sends)"
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void send();
            }
          }}
        />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !chosen} data-testid="chat-send">
            Send
          </button>
          <button type="button" disabled={!busy} onClick={() => controller.current?.abort()}>
            Stop
          </button>
          <button type="button" disabled={busy || turns.length === 0} onClick={() => setTurns([])}>
            Clear
          </button>
        </div>
      </form>
    </>
  );
}

function emptyAnswer(): ChatAnswer {
  return {
    reasoning: '',
    content: '',
    site: null,
    instance: null,
    startedAtMs: performance.now(),
    firstTokenAtMs: null,
    lastTokenAtMs: null,
    chunks: 0,
    promptTokens: null,
    completionTokens: null,
    finishReason: null,
    done: true,
    error: null,
  };
}
