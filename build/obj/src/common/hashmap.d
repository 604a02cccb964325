build/obj/src/common/hashmap.o: src/common/hashmap.c src/common/hashmap.h \
 include/cairn_errors.h src/common/assert.h
src/common/hashmap.h:
include/cairn_errors.h:
src/common/assert.h:
