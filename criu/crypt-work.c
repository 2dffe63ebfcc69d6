/*
 * The one worker-thread engine of the module: the stream's bulk transfers
 * of raw images and the dump's page writer put the cipher on a second
 * core with it.  A job (a piece of chunks, a batch of pages) is cut in
 * units; the helper thread and the caller claim units one by one, oldest
 * job first, so the caller seals too when it would otherwise wait, and
 * does all the work where no thread can be started.  Units run without
 * the lock and must not log (criu's log is not thread-safe): they note
 * failures in their job's owner for the caller to report.
 */
#include "crypt-private.h"

void crypt_engine_init(struct crypt_engine *e)
{
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->head = e->tail = NULL;
	e->helped = e->stop = false;
}

/* Under the lock: the oldest unit to run, false when there is none. */
static bool claim(struct crypt_engine *e, struct crypt_job **job, unsigned int *unit)
{
	struct crypt_job *j = e->head;

	if (!j)
		return false;
	*job = j;
	*unit = j->next++;
	if (j->next == j->units) {
		e->head = j->queued;
		if (!e->head)
			e->tail = NULL;
	}
	return true;
}

/* Run a claimed unit with the lock dropped; under the lock again, count it. */
static void run(struct crypt_engine *e, struct crypt_job *j, unsigned int unit, int thread)
{
	pthread_mutex_unlock(&e->lock);
	j->fn(j, unit, thread);
	pthread_mutex_lock(&e->lock);
	if (++j->done == j->units)
		pthread_cond_broadcast(&e->cond);
}

static void *helper(void *arg)
{
	struct crypt_engine *e = arg;
	struct crypt_job *j;
	unsigned int unit;

	pthread_mutex_lock(&e->lock);
	while (1) {
		if (claim(e, &j, &unit))
			run(e, j, unit, 1);
		else if (e->stop)
			break;
		else
			pthread_cond_wait(&e->cond, &e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* Start the helper; false where it can't be, and the caller works alone. */
bool crypt_engine_start(struct crypt_engine *e)
{
	if (!e->helped && !crypt_thread_start(&e->thread, helper, e))
		e->helped = true;
	return e->helped;
}

void crypt_engine_post(struct crypt_engine *e, struct crypt_job *job, crypt_unit_fn fn, void *arg,
		       unsigned int units)
{
	job->fn = fn;
	job->arg = arg;
	job->units = units;
	job->next = job->done = 0;
	job->queued = NULL;
	if (!units)
		return;
	pthread_mutex_lock(&e->lock);
	if (e->tail)
		e->tail->queued = job;
	else
		e->head = job;
	e->tail = job;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* Until every unit of job has run: run the oldest units left, or wait for the helper's. */
void crypt_engine_wait(struct crypt_engine *e, struct crypt_job *job)
{
	struct crypt_job *j;
	unsigned int unit;

	pthread_mutex_lock(&e->lock);
	while (job->done < job->units) {
		if (claim(e, &j, &unit))
			run(e, j, unit, 0);
		else
			pthread_cond_wait(&e->cond, &e->lock);
	}
	pthread_mutex_unlock(&e->lock);
}

/*
 * Stop the helper, which first runs what is left of the jobs posted (after
 * a failure the caller may not wait for them); without a helper they are
 * left, and their buffers are the caller's to free.
 */
void crypt_engine_fini(struct crypt_engine *e)
{
	if (e->helped) {
		pthread_mutex_lock(&e->lock);
		e->stop = true;
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->thread, NULL);
		e->helped = false;
	}
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
}
