/**
 * The line an engine process prints on stdout once it listens; its supervisor reads the port from it.
 * A module of its own so that the supervisor (the worker, `edgefleet up`) does not load the engine's
 * llama.cpp bindings, which only the engine process needs.
 */
export const LISTENING_MARKER = 'EDGEFLEET_ENGINE_LISTENING';
