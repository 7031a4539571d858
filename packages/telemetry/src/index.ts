/** @dmasim/telemetry: OpenTelemetry setup, span/attribute names and metrics for dmasim. */
export {};
