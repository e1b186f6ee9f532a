/* Passwords on the hashing queue (auth.h): the queue's threads, the
 * scrypt parameters a reload may change, and the work of one job. */
#include "auth.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "jobs.h"

static struct job_queue *hashq;
static pthread_mutex_t params_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pw_params params;

static void job_work(void *arg);
static void job_done(void *arg);

int auth_init(const struct config *cfg, char *err, size_t errlen)
{
	auth_configure(cfg);
	hashq = job_queue_new("hash", (int)cfg->hash_threads, (int)cfg->hash_queue);
	if (!hashq) {
		snprintf(err, errlen, "cannot start the hashing threads");
		return -1;
	}
	return 0;
}

void auth_configure(const struct config *cfg)
{
	pthread_mutex_lock(&params_lock);
	params = (struct pw_params){(uint64_t)cfg->scrypt_n, (uint32_t)cfg->scrypt_r, (uint32_t)cfg->scrypt_p,
				    (uint64_t)cfg->scrypt_maxmem};
	pthread_mutex_unlock(&params_lock);
}

void auth_fini(void)
{
	if (hashq)
		job_queue_free(hashq);
	hashq = NULL;
}

int auth_submit(struct auth_job *job, struct event_base *base, void (*done)(void *arg), void *arg)
{
	job->verified = false;
	job->dummy = false;
	job->result[0] = '\0';
	job->done = done;
	job->arg = arg;
	if (!hashq || job_submit(hashq, base, job_work, job_done, job) != 0)
		return -1;
	return 0;
}

/* On a hashing thread: only the job's own fields. */
static void job_work(void *arg)
{
	struct auth_job *j = arg;
	pthread_mutex_lock(&params_lock);
	struct pw_params want = params;
	pthread_mutex_unlock(&params_lock);
	size_t len = strlen(j->password);
	if (j->check && !j->stored[0]) {
		/* An unknown address, or an account without a password: the same
		 * work as a wrong password. */
		password_dummy_verify(j->password, len, &want);
		j->dummy = true;
	} else if (j->check) {
		j->verified = password_verify(j->password, len, j->stored) == 1;
	}
	if (j->hash && (!j->check || j->verified)) {
		if (password_hash(j->new_password, strlen(j->new_password), &want, j->result, sizeof(j->result)) != 0)
			j->result[0] = '\0';
	} else if (j->rehash && j->verified && password_needs_rehash(j->stored, &want)) {
		if (password_hash(j->password, len, &want, j->result, sizeof(j->result)) != 0)
			j->result[0] = '\0';
	}
	OPENSSL_cleanse(j->password, sizeof(j->password));
	OPENSSL_cleanse(j->new_password, sizeof(j->new_password));
}

/* Back on the loop that submitted. */
static void job_done(void *arg)
{
	struct auth_job *j = arg;
	j->done(j->arg);
}
