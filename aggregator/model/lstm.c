// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstm.h"
#include "mathutil.h"

#define H PSC_LSTM_HIDDEN
#define T PSC_LSTM_BPTT
#define NIN (1 + H + 1)     /* input, previous hidden state, bias */
#define NW (4 * H * NIN + H + 1) /* gate weights then output weights (+ bias) */
#define LR 0.005
#define CLIP 1.0
#define B1 0.9
#define B2 0.999
#define NORM_ALPHA 0.01

struct step {
	double x, hp[H], cp[H], i[H], f[H], o[H], g[H], c[H], h[H];
};

struct psc_lstm {
	double w[NW], m[NW], v[NW], grad[NW];
	double win[T + 1]; /* last standardised inputs, oldest first */
	uint32_t nwin;
	uint64_t t, adam_t;
	double mu, var, last;
	double err;
	double *path;
	uint32_t path_n, path_cap;
	struct step st[T + 1];
};

static inline double sigm(double x)
{
	return 1 / (1 + exp(-x));
}

/* Gate g (0=i, 1=f, 2=o, 3=g) row for cell k starts at w + (g * H + k) * NIN. */
static inline const double *row(const double *w, int g, int k)
{
	return w + (size_t)(g * H + k) * NIN;
}

static double forward_step(const double *w, double x, const double *hp, const double *cp,
			   struct step *s)
{
	double z[4][H];
	for (int g = 0; g < 4; g++)
		for (int k = 0; k < H; k++) {
			const double *r = row(w, g, k);
			double a = r[0] * x + r[NIN - 1];
			for (int j = 0; j < H; j++)
				a += r[1 + j] * hp[j];
			z[g][k] = a;
		}
	const double *wy = w + 4 * H * NIN;
	double y = wy[H];
	s->x = x;
	for (int k = 0; k < H; k++) {
		s->hp[k] = hp[k];
		s->cp[k] = cp[k];
		s->i[k] = sigm(z[0][k]);
		s->f[k] = sigm(z[1][k]);
		s->o[k] = sigm(z[2][k]);
		s->g[k] = tanh(z[3][k]);
		s->c[k] = s->f[k] * cp[k] + s->i[k] * s->g[k];
		s->h[k] = s->o[k] * tanh(s->c[k]);
		y += wy[k] * s->h[k];
	}
	return y;
}

int psc_lstm_new(struct psc_lstm **out, uint64_t seed)
{
	struct psc_lstm *l = calloc(1, sizeof(*l));
	struct psc_rng rng;

	if (!l)
		return -ENOMEM;
	psc_rng_seed(&rng, seed ? seed : 0x15a7);
	double scale = 1 / sqrt((double)NIN);
	for (int i = 0; i < NW; i++)
		l->w[i] = (psc_rng_uniform(&rng) * 2 - 1) * scale;
	for (int k = 0; k < H; k++)
		l->w[(size_t)(1 * H + k) * NIN + NIN - 1] = 1.0; /* forget gate bias */
	l->var = 1;
	*out = l;
	return 0;
}

void psc_lstm_free(struct psc_lstm **l)
{
	if (!l || !*l)
		return;
	free((*l)->path);
	free(*l);
	*l = NULL;
}

static void train(struct psc_lstm *l)
{
	uint32_t n = l->nwin - 1; /* inputs win[0..n-1], targets win[1..n] */
	double h0[H] = { 0 }, c0[H] = { 0 }, yhat[T];
	const double *wy = l->w + 4 * H * NIN;

	for (uint32_t s = 0; s < n; s++) {
		const double *hp = s ? l->st[s - 1].h : h0, *cp = s ? l->st[s - 1].c : c0;
		yhat[s] = forward_step(l->w, l->win[s], hp, cp, &l->st[s]);
	}
	memset(l->grad, 0, sizeof(l->grad));
	double *gy = l->grad + 4 * H * NIN;
	double dh_next[H] = { 0 }, dc_next[H] = { 0 }, loss = 0;
	for (uint32_t s = n; s-- > 0;) {
		struct step *st = &l->st[s];
		double dy = yhat[s] - l->win[s + 1];
		loss += dy * dy;
		dy *= 2.0 / n;
		double dh[H], dz[4][H];
		for (int k = 0; k < H; k++) {
			gy[k] += dy * st->h[k];
			dh[k] = dy * wy[k] + dh_next[k];
		}
		gy[H] += dy;
		for (int k = 0; k < H; k++) {
			double tc = tanh(st->c[k]);
			double dc = dh[k] * st->o[k] * (1 - tc * tc) + dc_next[k];
			dz[2][k] = dh[k] * tc * st->o[k] * (1 - st->o[k]);
			dz[0][k] = dc * st->g[k] * st->i[k] * (1 - st->i[k]);
			dz[1][k] = dc * st->cp[k] * st->f[k] * (1 - st->f[k]);
			dz[3][k] = dc * st->i[k] * (1 - st->g[k] * st->g[k]);
			dc_next[k] = dc * st->f[k];
		}
		memset(dh_next, 0, sizeof(dh_next));
		for (int g = 0; g < 4; g++)
			for (int k = 0; k < H; k++) {
				double d = dz[g][k];
				double *gr = l->grad + (size_t)(g * H + k) * NIN;
				const double *r = row(l->w, g, k);
				gr[0] += d * st->x;
				for (int j = 0; j < H; j++) {
					gr[1 + j] += d * st->hp[j];
					dh_next[j] += d * r[1 + j];
				}
				gr[NIN - 1] += d;
			}
	}
	l->err = l->err * 0.99 + 0.01 * loss / n;
	double norm = 0;
	for (int i = 0; i < NW; i++)
		norm += l->grad[i] * l->grad[i];
	norm = sqrt(norm);
	double k = norm > CLIP ? CLIP / norm : 1;
	l->adam_t++;
	double c1 = 1 - pow(B1, (double)l->adam_t), c2 = 1 - pow(B2, (double)l->adam_t);
	for (int i = 0; i < NW; i++) {
		double g = l->grad[i] * k;
		l->m[i] = B1 * l->m[i] + (1 - B1) * g;
		l->v[i] = B2 * l->v[i] + (1 - B2) * g * g;
		l->w[i] -= LR * (l->m[i] / c1) / (sqrt(l->v[i] / c2) + 1e-8);
	}
}

void psc_lstm_update(struct psc_lstm *l, double y)
{
	if (l->t == 0) {
		l->mu = y;
		l->var = 0;
	} else {
		double d = y - l->mu;
		l->mu += NORM_ALPHA * d;
		l->var = (1 - NORM_ALPHA) * (l->var + NORM_ALPHA * d * d);
	}
	l->t++;
	l->last = y;
	double sd = sqrt(l->var) + 1e-9 * (fabs(l->mu) + 1);
	double x = (y - l->mu) / sd;
	x = x > 10 ? 10 : x < -10 ? -10 : x;
	if (l->nwin == T + 1) {
		memmove(l->win, l->win + 1, T * sizeof(*l->win));
		l->nwin--;
	}
	l->win[l->nwin++] = x;
	l->path_n = 0;
	if (l->nwin >= 3)
		train(l);
}

double psc_lstm_predict(struct psc_lstm *l, uint32_t h)
{
	if (h < 1)
		h = 1;
	if (l->nwin < T + 1)
		return l->last;
	if (h > l->path_n) {
		if (h > l->path_cap) {
			double *p = realloc(l->path, h * sizeof(*p));
			if (!p)
				return l->last;
			l->path = p;
			l->path_cap = h;
		}
		/* Run the window from a zero state, as in training, then roll forward on the
		 * network's own predictions. */
		double hs[H] = { 0 }, cs[H] = { 0 }, y = 0;
		double sd = sqrt(l->var) + 1e-9 * (fabs(l->mu) + 1);
		struct step s;
		for (uint32_t i = 0; i < l->nwin; i++) {
			y = forward_step(l->w, l->win[i], hs, cs, &s);
			memcpy(hs, s.h, sizeof(hs));
			memcpy(cs, s.c, sizeof(cs));
		}
		for (uint32_t k = 0; k < h; k++) {
			double yc = y > 10 ? 10 : y < -10 ? -10 : y;
			l->path[k] = l->mu + sd * yc;
			if (k + 1 < h) {
				y = forward_step(l->w, yc, hs, cs, &s);
				memcpy(hs, s.h, sizeof(hs));
				memcpy(cs, s.c, sizeof(cs));
			}
		}
		l->path_n = h;
	}
	return l->path[h - 1];
}

double psc_lstm_train_error(const struct psc_lstm *l)
{
	return l->err;
}
