/* SPDX-License-Identifier: MIT */
/* A small LSTM forecaster trained online, in plain C.
 *
 * One input (the series, standardised by exponentially weighted mean and variance), one
 * layer of PSC_LSTM_HIDDEN cells, a linear output predicting the next standardised value.
 * Every update runs truncated back-propagation through time over the last PSC_LSTM_BPTT
 * steps (from a zero state: the network is a function of that window), with Adam and
 * gradient clipping. Multi-step forecasts feed the network its own predictions (trained
 * one step ahead, it damps the shape a little more with each step).
 * Deterministic for a given seed. */
#pragma once

#include <stdint.h>

#define PSC_LSTM_HIDDEN 8
#define PSC_LSTM_BPTT 16

struct psc_lstm;

/* Returns 0 or -ENOMEM; the caller owns *out (free with psc_lstm_free()). */
int psc_lstm_new(struct psc_lstm **out, uint64_t seed);
void psc_lstm_free(struct psc_lstm **l);

/* Feeds the next observation and takes one training step on the window. */
void psc_lstm_update(struct psc_lstm *l, double y);

/* Forecast @h >= 1 steps after the last observation (the last observation itself before
 * the window is full). The path is computed once per update and cached. */
double psc_lstm_predict(struct psc_lstm *l, uint32_t h);

/* Mean squared training error (standardised units) over recent updates. */
double psc_lstm_train_error(const struct psc_lstm *l);
