build/obj/tests/unit/test_common.o: tests/unit/test_common.c \
 include/cairn_errors.h src/common/buf.h src/common/crc32c.h \
 src/common/hashmap.h src/common/limits.h src/common/log.h \
 src/common/prng.h src/common/time.h tests/lib/test.h
include/cairn_errors.h:
src/common/buf.h:
src/common/crc32c.h:
src/common/hashmap.h:
src/common/limits.h:
src/common/log.h:
src/common/prng.h:
src/common/time.h:
tests/lib/test.h:
