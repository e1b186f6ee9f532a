/* db_int: integers read from results, checked rather than trusted. The
 * results are built with libpq's own constructors, no server needed. */
#include <libpq-fe.h>

#include "check.h"
#include "db.h"

static PGresult *one_column(const char *const *values, int n)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc att = {.name = (char *)"v", .format = 0};
	PQsetResultAttrs(r, 1, &att);
	for (int i = 0; i < n; i++)
		PQsetvalue(r, i, 0, (char *)values[i], values[i] ? (int)strlen(values[i]) : -1);
	return r;
}

int main(void)
{
	const char *v[] = {"42", "-7", "9223372036854775807", "9223372036854775808", "12abc", "", " 5", NULL};
	PGresult *r = one_column(v, 8);
	CHECK_INT_EQ(db_int(r, 0, 0), 42);
	CHECK_INT_EQ(db_int(r, 1, 0), -7);
	CHECK(db_int(r, 2, 0) == INT64_MAX);
	CHECK_INT_EQ(db_int(r, 3, 0), 0);          /* out of range */
	CHECK_INT_EQ(db_int(r, 4, 0), 0);          /* trailing junk */
	CHECK_INT_EQ(db_int(r, 5, 0), 0);          /* empty */
	CHECK_INT_EQ(db_int(r, 7, 0), 0);          /* NULL */
	CHECK_INT_EQ(db_int(r, 8, 0), 0);          /* no such row */
	CHECK_INT_EQ(db_int(r, 0, 1), 0);          /* no such column */
	CHECK_INT_EQ(db_int(NULL, 0, 0), 0);
	PQclear(r);
	return check_exit("test_db_int");
}
