/**
 * Fan-out of session events to several observers (printer, telemetry, tests).
 */
import type { ResponderObserver, SenderObserver } from '../session/events.js';

/** An observer that forwards every sender event to each of `list`. */
export function combineSenderObservers(list: SenderObserver[]): SenderObserver {
  const keys = ['onSent', 'onReply', 'onLoss', 'onStats', 'onTargetError', 'onDrop', 'onTargetAdded', 'onTargetRemoved'] as const;
  const out: SenderObserver = {};
  for (const k of keys) {
    const fns = list.map((o) => o[k]?.bind(o)).filter((f): f is (e: never) => void => typeof f === 'function');
    if (fns.length > 0) (out as Record<string, unknown>)[k] = (e: never) => { for (const f of fns) f(e); };
  }
  return out;
}

/** An observer that forwards every responder event to each of `list`. */
export function combineResponderObservers(list: ResponderObserver[]): ResponderObserver {
  const keys = ['onReflected', 'onDropped', 'onSessionCount'] as const;
  const out: ResponderObserver = {};
  for (const k of keys) {
    const fns = list.map((o) => o[k]?.bind(o)).filter((f): f is (e: never) => void => typeof f === 'function');
    if (fns.length > 0) (out as Record<string, unknown>)[k] = (e: never) => { for (const f of fns) f(e); };
  }
  return out;
}
