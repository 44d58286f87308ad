/**
 * Creates OpenTelemetry instruments from catalogue entries, so that names, units and help texts
 * come from `catalog.ts` only.
 */
import { ValueType, type Counter, type Gauge, type Meter, type ObservableCounter, type ObservableGauge } from '@opentelemetry/api';
import type { MetricSpec } from './catalog.js';
import type { SeriesStore, StoreCounter, StoreGauge, StoreHistogram } from './series-store.js';

type Spec<K extends MetricSpec['kind']> = MetricSpec & { kind: K };

/** A synchronous counter for a catalogue entry. */
export function counter(meter: Meter, spec: Spec<'counter'>): Counter {
  return meter.createCounter(spec.name, { description: spec.help, unit: spec.unit });
}

/**
 * A histogram aggregated by the series store instead of the SDK, for values recorded once per
 * packet (see series-store.ts for why); same name, unit, help and export path as `histogram`.
 */
export function packetHistogram(store: SeriesStore, spec: Spec<'histogram'>, boundaries: readonly number[]): StoreHistogram {
  return store.histogram({ name: spec.name, description: spec.help, unit: spec.unit, valueType: ValueType.DOUBLE }, boundaries);
}

/**
 * A counter kept by the series store instead of the SDK, for per-target packet counts (see
 * series-store.ts for why); same name, unit, help and export path as `counter`.
 */
export function storeCounter(store: SeriesStore, spec: Spec<'counter'>): StoreCounter {
  return store.counter({ name: spec.name, description: spec.help, unit: spec.unit, valueType: ValueType.DOUBLE });
}

/**
 * A gauge kept by the series store instead of the SDK, for per-target figures set once per period
 * (see series-store.ts for why); same name, unit, help and export path as `gauge`.
 */
export function storeGauge(store: SeriesStore, spec: Spec<'gauge'>): StoreGauge {
  return store.gauge({ name: spec.name, description: spec.help, unit: spec.unit, valueType: ValueType.DOUBLE });
}

/** A synchronous gauge for a catalogue entry (recording NaN removes the series, see series-store.ts). */
export function gauge(meter: Meter, spec: Spec<'gauge'>): Gauge {
  return meter.createGauge(spec.name, { description: spec.help, unit: spec.unit });
}

/** An observable gauge for a catalogue entry (observed from a batch callback). */
export function observableGauge(meter: Meter, spec: Spec<'observable_gauge'>): ObservableGauge {
  return meter.createObservableGauge(spec.name, { description: spec.help, unit: spec.unit });
}

/** An observable counter for a catalogue entry (observed from a batch callback). */
export function observableCounter(meter: Meter, spec: Spec<'observable_counter'>): ObservableCounter {
  return meter.createObservableCounter(spec.name, { description: spec.help, unit: spec.unit });
}
